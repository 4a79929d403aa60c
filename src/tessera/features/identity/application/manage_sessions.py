"""Signing out, and the user's view of their sessions."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import msgspec

from tessera.features.identity.application.ports import SessionStore
from tessera.features.identity.domain.sessions import Principal, SessionRecord
from tessera.shared.application.ports import Clock
from tessera.shared.domain.errors import NotFound

logger = logging.getLogger("tessera.security")


class SessionNotFound(NotFound):
    default_message = "There is no such session."


class SessionView(msgspec.Struct, frozen=True):
    session_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


class LogOut:
    """Ends the caller's session: its access and refresh tokens stop working at once."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal) -> None:
        await self._sessions.revoke(principal.user_id, principal.session_id)
        ids = {"user_id": str(principal.user_id), "session_id": str(principal.session_id)}
        logger.info("session revoked", extra=ids)


class LogOutEverywhere:
    """Ends every session of the caller, this one included."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal) -> int:
        ended = await self._sessions.revoke_all(principal.user_id)
        logger.info("all sessions revoked", extra={"user_id": str(principal.user_id), "n": ended})
        return ended


class ListSessions:
    def __init__(self, sessions: SessionStore, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def execute(self, principal: Principal) -> list[SessionView]:
        live = await self._sessions.list(principal.user_id, now=self._clock.now())
        return [_view(session, principal) for session in live]


class RevokeSession:
    """Ends one of the caller's own sessions; another user's id is simply not found."""

    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, principal: Principal, session_id: uuid.UUID) -> None:
        if not await self._sessions.revoke(principal.user_id, session_id):
            raise SessionNotFound()
        ids = {"user_id": str(principal.user_id), "session_id": str(session_id)}
        logger.info("session revoked", extra=ids)


def _view(session: SessionRecord, principal: Principal) -> SessionView:
    return SessionView(
        session_id=str(session.session_id), created_at=session.created_at,
        last_seen_at=session.last_seen_at, expires_at=session.expires_at,
        ip_address=session.ip_address, user_agent=session.user_agent,
        current=session.session_id == principal.session_id,
    )  # fmt: skip
