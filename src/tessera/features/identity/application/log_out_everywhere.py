from __future__ import annotations

import logging

from tessera.features.identity.application.ports import SessionStore
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.security")


class LogOutEverywhere:
    """Ends every session of the caller, this one included."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal) -> int:
        ended = await self._sessions.revoke_all(principal.user_id)
        logger.info("all sessions revoked", extra={"user_id": str(principal.user_id), "n": ended})
        return ended
