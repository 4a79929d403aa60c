from __future__ import annotations

import logging
import uuid

from tessera.features.identity.application.ports import SessionStore
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import NotFound

logger = logging.getLogger("tessera.security")


class SessionNotFound(NotFound):
    default_message = "There is no such session."


class RevokeSession:
    """Ends one of the caller's own sessions; another user's id is simply not found."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal, session_id: uuid.UUID) -> None:
        if not await self._sessions.revoke(principal.user_id, session_id):
            raise SessionNotFound()
        ids = {"user_id": str(principal.user_id), "session_id": str(session_id)}
        logger.info("session revoked", extra=ids)
