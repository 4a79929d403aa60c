from __future__ import annotations

import logging
import uuid

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.ports import SessionStore
from tessera.shared.application.ports import UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import NotFound

logger = logging.getLogger("tessera.security")


class SessionNotFound(NotFound):
    default_message = "There is no such session."


class RevokeSession:
    """Ends one of the caller's own sessions; another user's id is simply not found."""

    def __init__(self, sessions: SessionStore, audit: AuditTrail, unit_of_work: UnitOfWork) -> None:
        self._sessions, self._audit, self._uow = sessions, audit, unit_of_work

    async def execute(self, principal: Principal, session_id: uuid.UUID) -> None:
        if not await self._sessions.revoke(principal.user_id, session_id):
            raise SessionNotFound()
        self._audit.record(
            AuditAction.SESSION_REVOKED,
            tenant_id=principal.tenant_id,
            actor_id=principal.user_id,
            target_type="session",
            target_id=session_id,
        )
        await self._uow.commit()
        ids = {"user_id": str(principal.user_id), "session_id": str(session_id)}
        logger.info("session revoked", extra=ids)
