from __future__ import annotations

import uuid

from tessera.features.notifications.application.ports import NotificationRepository
from tessera.features.notifications.application.views import recipient
from tessera.features.notifications.domain.notification import NotificationNotFound
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.caller import Principal


class MarkNotificationRead:
    """Marks one notification read for the caller only (a tenant's or a global one stays
    unread for everyone else). Idempotent: marking again keeps the first time. One the
    caller cannot see, or that does not exist, is the same 404."""

    def __init__(
        self, notifications: NotificationRepository, unit_of_work: UnitOfWork, clock: Clock
    ) -> None:
        self._notifications, self._uow, self._clock = notifications, unit_of_work, clock

    async def execute(self, caller: Principal, notification_id: uuid.UUID) -> None:
        reader = recipient(caller)
        found = await self._notifications.get(notification_id)
        if found is None or not found.is_for(reader):
            raise NotificationNotFound(field="notification_id")
        await self._notifications.mark_read(notification_id, reader, self._clock.now())
        await self._uow.commit()
