from __future__ import annotations

import logging

from tessera.features.identity.application.accounts import live_user, profile_key
from tessera.features.identity.application.ports import SessionStore, UserRepository
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class DeleteAccount:
    """Soft delete: the row keeps `deleted_at` (purged after the retention period), every
    session ends at once, the email can register again, and `user.deleted` is recorded."""

    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users, self._sessions, self._cache = users, sessions, cache
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, principal: Principal) -> None:
        user = await live_user(self._users, principal)
        user.soft_delete(self._clock.now())
        await self._users.save(user)
        payload = {"user_id": str(user.id), "tenant_id": str(user.tenant_id)}
        self._outbox.record(Event("user.deleted", payload, tenant_id=user.tenant_id))
        await self._uow.commit()
        await self._sessions.revoke_all(user.id)
        await self._cache.delete(profile_key(user.id))
        logger.info("account deleted", extra={"user_id": str(user.id)})
