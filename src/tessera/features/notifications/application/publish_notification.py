from __future__ import annotations

import logging
import uuid
from typing import Annotated

import msgspec

from tessera.features.identity.application.ports import UserRepository
from tessera.features.notifications.application.ports import NotificationRepository
from tessera.features.notifications.application.views import (
    NotificationView,
    notification_published,
)
from tessera.features.notifications.domain.notification import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    InboxItem,
    Kind,
    Notification,
)
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden, InvalidInput, NotFound
from tessera.shared.domain.patterns import NOT_BLANK

logger = logging.getLogger("tessera.notifications")


class NotAPublisher(Forbidden):
    default_message = "Only administrators can publish notifications."


class GlobalIsAdminOnly(Forbidden):
    default_message = "Only an admin can notify everyone."


class RecipientNotFound(NotFound):
    default_message = "No such user or tenant."


class NewNotification(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly one target: `user_id`, `tenant_id`, or `"global": true` (`ONE_TARGET`)."""

    title: Annotated[str, msgspec.Meta(pattern=NOT_BLANK, max_length=MAX_TITLE_CHARS)]
    body: Annotated[str, msgspec.Meta(max_length=MAX_BODY_CHARS)] = ""
    user_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    everyone: bool = msgspec.field(default=False, name="global")


# The rule `PublishNotification` checks first, as JSON Schema for the OpenAPI document: of
# the three targets exactly one is given, and not null (nor `global` false). msgspec has no
# untagged unions of structs to say it with types.
_UUID = {"type": "string", "format": "uuid"}
ONE_TARGET: list[dict[str, object]] = [
    {"required": ["user_id"], "properties": {"user_id": _UUID}},
    {"required": ["tenant_id"], "properties": {"tenant_id": _UUID}},
    {"required": ["global"], "properties": {"global": {"const": True}}},
]


class PublishNotification:
    """An administrator's notification: stored, and pushed once its transaction commits.

    Rules:
    - exactly one target (`user_id`, `tenant_id` or `global`), else 400; nobody notifies
      everyone by forgetting a field;
    - an `admin` reaches every user and tenant, and everyone; a `tenant_admin` its own
      tenant and its users only (another tenant, or one of its users, is 404 as if missing;
      `global` is 403); a `user` publishes nothing (403);
    - a user's notification carries that user's tenant (its tenant's wall covers it);
    - `notification.published` is recorded in the same commit: the push happens after the
      commit, never for a notification that was rolled back.
    """

    def __init__(
        self,
        notifications: NotificationRepository,
        users: UserRepository,
        tenants: TenantRepository,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
    ) -> None:
        self._notifications, self._users, self._tenants = notifications, users, tenants
        self._outbox, self._uow, self._clock, self._scope = outbox, unit_of_work, clock, scope

    async def execute(self, caller: Principal, new: NewNotification) -> NotificationView:
        if caller.role not in (Role.ADMIN, Role.TENANT_ADMIN):
            raise NotAPublisher()
        targets = (new.user_id is not None) + (new.tenant_id is not None) + new.everyone
        if targets != 1:
            raise InvalidInput("Give exactly one of user_id, tenant_id or global.", field="target")
        if new.everyone and caller.role is not Role.ADMIN:
            raise GlobalIsAdminOnly(field="global")
        widen_for_admin(self._scope, caller)
        tenant_id = await self._target_tenant(caller, new)
        notification = Notification.create(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            user_id=new.user_id,
            kind=Kind.ANNOUNCEMENT,
            title=new.title,
            body=new.body,
            created_at=self._clock.now(),
        )
        await self._notifications.add(notification)
        self._outbox.record(notification_published(notification))
        await self._uow.commit()
        logger.info(
            "notification published",
            extra={
                "notification_id": str(notification.id),
                "channel": notification.channel,
                "user_id": str(caller.user_id),
            },
        )
        return NotificationView.of(InboxItem(notification, None))

    async def _target_tenant(self, caller: Principal, new: NewNotification) -> uuid.UUID | None:
        """The tenant the row belongs to (None: everyone); out of reach is missing."""
        if new.user_id is not None:
            user = await self._users.get(new.user_id)
            if user is None or not _reaches(caller, user.tenant_id):
                raise RecipientNotFound(field="user_id")
            return user.tenant_id
        if new.tenant_id is not None:
            if (
                not _reaches(caller, new.tenant_id)
                or await self._tenants.get(new.tenant_id) is None
            ):
                raise RecipientNotFound(field="tenant_id")
            return new.tenant_id
        return None


def _reaches(caller: Principal, tenant_id: uuid.UUID) -> bool:
    return caller.role is Role.ADMIN or tenant_id == caller.tenant_id
