from __future__ import annotations

import logging
import uuid

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import profile_key
from tessera.features.identity.application.ports import SessionStore, UserRepository
from tessera.features.identity.application.user_administration import (
    SelfLockout,
    reachable_user,
    require_may_manage,
)
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class RemoveUser:
    """An administrator soft-deletes another user, with `DeleteAccount`'s effects: every
    session ends, the cached profile goes, `user.deleted` is recorded, and the user is
    answered as missing from then on.

    Rules: reach as in `user_administration`; a tenant admin cannot delete an `admin` (403);
    nobody deletes themselves here (409 `SelfLockout`; `DELETE /users/me` does that).
    """

    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._scope, self._audit = scope, audit
        self._users, self._sessions, self._cache = users, sessions, cache
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, caller: Principal, user_id: uuid.UUID) -> None:
        widen_for_admin(self._scope, caller)
        user = await reachable_user(self._users, caller, user_id)
        require_may_manage(caller, user)
        if user.id == caller.user_id:
            raise SelfLockout(field="user_id")
        user.soft_delete(self._clock.now())
        await self._users.save(user)
        payload = {
            "user_id": str(user.id),
            "tenant_id": str(user.tenant_id),
            "deleted_by": str(caller.user_id),
        }
        self._outbox.record(Event("user.deleted", payload, tenant_id=user.tenant_id))
        self._audit.record(
            AuditAction.USER_REMOVED,
            tenant_id=user.tenant_id,
            actor_id=caller.user_id,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
        await self._sessions.revoke_all(user.id)
        await self._cache.delete(profile_key(user.id))
        logger.info(
            "user deleted by an administrator",
            extra={"user_id": str(user.id), "by": str(caller.user_id)},
        )
