from __future__ import annotations

import logging

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.ports import SessionStore
from tessera.shared.application.ports import UnitOfWork
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.security")


class LogOutEverywhere:
    """Ends every session of the caller, this one included."""

    def __init__(self, sessions: SessionStore, audit: AuditTrail, unit_of_work: UnitOfWork) -> None:
        self._sessions, self._audit, self._uow = sessions, audit, unit_of_work

    async def execute(self, principal: Principal) -> int:
        ended = await self._sessions.revoke_all(principal.user_id)
        self._audit.record(
            AuditAction.LOGGED_OUT_EVERYWHERE,
            tenant_id=principal.tenant_id,
            actor_id=principal.user_id,
            target_type="user",
            target_id=principal.user_id,
            details={"sessions_ended": ended},
        )
        await self._uow.commit()
        logger.info("all sessions revoked", extra={"user_id": str(principal.user_id), "n": ended})
        return ended
