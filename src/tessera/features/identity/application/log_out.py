from __future__ import annotations

import logging

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.ports import SessionStore
from tessera.shared.application.ports import UnitOfWork
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.security")


class LogOut:
    """Ends the caller's session: its access and refresh tokens stop working at once."""

    def __init__(self, sessions: SessionStore, audit: AuditTrail, unit_of_work: UnitOfWork) -> None:
        self._sessions, self._audit, self._uow = sessions, audit, unit_of_work

    async def execute(self, principal: Principal) -> None:
        self._audit.record(
            AuditAction.LOGGED_OUT,
            tenant_id=principal.tenant_id,
            actor_id=principal.user_id,
            target_type="session",
            target_id=principal.session_id,
        )
        await self._sessions.revoke(principal.user_id, principal.session_id)
        await self._uow.commit()  # the audit row; a store that failed above leaves none
        ids = {"user_id": str(principal.user_id), "session_id": str(principal.session_id)}
        logger.info("session revoked", extra=ids)
