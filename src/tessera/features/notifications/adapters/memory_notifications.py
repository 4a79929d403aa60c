"""Notifications in a dict: complete for one process (tests, tools)."""

from __future__ import annotations

import uuid
from datetime import datetime

from tessera.features.notifications.domain.notification import InboxItem, Notification, Recipient
from tessera.shared.domain.pagination import Page, PageRequest


class InMemoryNotificationRepository:
    """`NotificationRepository` and `NotificationReader` with the SQL adapter's semantics
    (no row-level security: one process has one tenant's view, the use cases' rules)."""

    def __init__(self) -> None:
        self._notifications: dict[uuid.UUID, Notification] = {}
        self._reads: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}

    async def add(self, notification: Notification) -> None:
        if notification.id in self._notifications:
            raise ValueError(f"notification {notification.id} exists already")
        self._notifications[notification.id] = notification

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        return self._notifications.get(notification_id)

    async def mark_read(self, notification_id: uuid.UUID, reader: Recipient, at: datetime) -> None:
        if notification_id not in self._notifications:
            raise ValueError(f"no notification {notification_id}")  # a foreign key would say so
        self._reads.setdefault((notification_id, reader.user_id), at)

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        items = [
            InboxItem(n, self._reads.get((n.id, reader.user_id)))
            for n in self._notifications.values()
            if n.is_for(reader)
        ]
        if unread is not None:
            items = [item for item in items if (item.read_at is None) == unread]
        items.sort(
            key=lambda item: (item.notification.created_at, item.notification.id),
            reverse=page.order == "desc",
        )
        chosen = items[page.offset : page.offset + page.limit]
        return Page(items=chosen, total_items=len(items), request=page)
