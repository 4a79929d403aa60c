from __future__ import annotations

import logging

from tessera.features.identity.application.ports import SessionStore
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.security")


class LogOut:
    """Ends the caller's session: its access and refresh tokens stop working at once."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal) -> None:
        await self._sessions.revoke(principal.user_id, principal.session_id)
        ids = {"user_id": str(principal.user_id), "session_id": str(principal.session_id)}
        logger.info("session revoked", extra=ids)
