"""What the notification use cases share: the API's view, the publish event, the push frame."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.notifications.domain.notification import (
    InboxItem,
    Notification,
    Recipient,
)
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event

NOTIFICATION_PUBLISHED = "notification.published"


def recipient(caller: Principal) -> Recipient:
    return Recipient(user_id=caller.user_id, tenant_id=caller.tenant_id)


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    """A notification as its reader sees it over HTTP: `user_id` / `tenant_id` say whom it
    was addressed to (both null: everyone); `read_at` is the reader's own mark."""

    id: uuid.UUID
    kind: str
    title: str
    body: str
    user_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    created_at: datetime
    read: bool
    read_at: datetime | None

    @classmethod
    def of(cls, item: InboxItem) -> NotificationView:
        n = item.notification
        return cls(
            id=n.id,
            kind=n.kind.value,
            title=n.title,
            body=n.body,
            user_id=n.user_id,
            tenant_id=n.tenant_id,
            created_at=n.created_at,
            read=item.read_at is not None,
            read_at=item.read_at,
        )


class PushedNotification(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of `notification.published`: everything the push needs, so the job reads
    no table (and works for global rows whatever tenant the worker enters)."""

    id: uuid.UUID
    channel: str
    title: str
    body: str
    timestamp: datetime


def notification_published(notification: Notification) -> Event:
    """Recorded with the notification, so it is pushed exactly when (and if) it commits."""
    pushed = PushedNotification(
        id=notification.id,
        channel=notification.channel,
        title=notification.title,
        body=notification.body,
        timestamp=notification.created_at,
    )
    return Event(
        type=NOTIFICATION_PUBLISHED,
        payload=msgspec.to_builtins(pushed),
        tenant_id=notification.tenant_id,
    )


class _FrameData(msgspec.Struct, frozen=True):
    id: uuid.UUID
    title: str
    body: str
    timestamp: datetime


class _Frame(msgspec.Struct, frozen=True):
    type: str
    channel: str
    data: _FrameData


def notification_frame(pushed: PushedNotification) -> bytes:
    """SPEC §3.7's server frame, encoded once by the publisher so that every socket only
    forwards bytes: `{"type":"notification","channel":…,"data":{"id","title","body",
    "timestamp"}}`."""
    data = _FrameData(pushed.id, pushed.title, pushed.body, pushed.timestamp)
    return msgspec.json.encode(_Frame("notification", pushed.channel, data))
