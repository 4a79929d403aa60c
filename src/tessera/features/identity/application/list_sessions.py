from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.identity.application.ports import SessionStore
from tessera.features.identity.domain.sessions import SessionRecord
from tessera.shared.application.ports import Clock
from tessera.shared.domain.caller import Principal


class SessionView(msgspec.Struct, frozen=True):
    session_id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool
    mfa: bool  # a second factor was proven at sign-in (or since, by enrolling)


class ListSessions:
    def __init__(self, sessions: SessionStore, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def execute(self, principal: Principal) -> list[SessionView]:
        live = await self._sessions.list(principal.user_id, now=self._clock.now())
        return [_view(session, principal) for session in live]


def _view(session: SessionRecord, principal: Principal) -> SessionView:
    return SessionView(
        session_id=session.session_id,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        ip_address=session.ip_address,
        user_agent=session.user_agent,
        current=session.session_id == principal.session_id,
        mfa=session.mfa,
    )
