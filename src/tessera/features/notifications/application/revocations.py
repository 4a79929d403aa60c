"""Pushing session revocations to every process, so sockets of a revoked session close.

Identity ends sessions through its `SessionStore` port (logout, logout everywhere, password
change or reset, deletion, deactivation, refresh-token reuse, a login past the cap).
`AnnouncingSessionStore` decorates that port: after each ending it publishes a `Revocation`
on one internal pub/sub channel that every process's `LiveSockets` listens to. Identity
knows nothing of it. The touch of every authenticated request is on another port
(`LiveSessions`), which is not decorated: announcing stays off that path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

import msgspec

from tessera.features.identity.application.ports import SessionStore
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    Rotation,
    RotationOutcome,
    SessionRecord,
)
from tessera.shared.application.pubsub import PubSub
from tessera.shared.domain.caller import Role

logger = logging.getLogger("tessera.notifications")

# Clients may subscribe only to `user.`, `tenant.` and `global`, so none can listen here.
REVOCATIONS_CHANNEL = "internal.sessions.revoked"


class Revocation(msgspec.Struct, frozen=True, omit_defaults=True):
    """The sessions of `user_id` that ended: `session_id` alone, or (without it) every one
    but `keep`."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None = None
    keep: uuid.UUID | None = None

    def ends(self, session_id: uuid.UUID) -> bool:
        if self.session_id is not None:
            return session_id == self.session_id
        return session_id != self.keep


def decode_revocation(message: bytes) -> Revocation | None:
    try:
        return msgspec.json.decode(message, type=Revocation)
    except msgspec.DecodeError:
        return None


class AnnouncingSessionStore:
    """`SessionStore` that announces every ending it performed. Announcing is best effort: a
    broker outage is logged, never fails the logout; the sockets' periodic re-check then
    closes them a little later."""

    def __init__(self, inner: SessionStore, pubsub: PubSub) -> None:
        self._inner, self._pubsub = inner, pubsub

    async def create(
        self,
        session: SessionRecord,
        *,
        refresh_hash: str,
        idle_seconds: int,
        max_sessions: int,
        devices: DeviceMemory,
    ) -> Sequence[uuid.UUID]:
        ended = await self._inner.create(
            session,
            refresh_hash=refresh_hash,
            idle_seconds=idle_seconds,
            max_sessions=max_sessions,
            devices=devices,
        )
        for session_id in ended:  # the cap ended the user's oldest sessions
            await self._announce(Revocation(session.user_id, session_id=session_id))
        return ended

    async def knows_device(
        self,
        user_id: uuid.UUID,
        *,
        ip_address: str | None,
        user_agent: str | None,
        since: datetime,
    ) -> bool:
        return await self._inner.knows_device(
            user_id, ip_address=ip_address, user_agent=user_agent, since=since
        )

    async def rotate(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        presented_hash: str,
        new_hash: str,
        now: datetime,
        grace_seconds: int,
        idle_seconds: int,
    ) -> Rotation:
        rotation = await self._inner.rotate(
            user_id,
            session_id,
            presented_hash=presented_hash,
            new_hash=new_hash,
            now=now,
            grace_seconds=grace_seconds,
            idle_seconds=idle_seconds,
        )
        if rotation.outcome is RotationOutcome.REUSED:  # theft assumed: the session ended
            await self._announce(Revocation(user_id, session_id=session_id))
        return rotation

    async def list(self, user_id: uuid.UUID, *, now: datetime) -> Sequence[SessionRecord]:
        return await self._inner.list(user_id, now=now)

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        ended = await self._inner.revoke(user_id, session_id)
        if ended:
            await self._announce(Revocation(user_id, session_id=session_id))
        return ended

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
        ended = await self._inner.revoke_all(user_id, keep=keep)
        if ended:
            await self._announce(Revocation(user_id, keep=keep))
        return ended

    async def set_role(self, user_id: uuid.UUID, role: Role) -> None:
        await self._inner.set_role(user_id, role)

    async def mark_mfa(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        return await self._inner.mark_mfa(user_id, session_id)

    async def _announce(self, revocation: Revocation) -> None:
        try:
            await self._pubsub.publish(REVOCATIONS_CHANNEL, msgspec.json.encode(revocation))
        except Exception:
            logger.warning(
                "session revocation not announced; sockets close at the next re-check",
                extra={"user_id": str(revocation.user_id)},
                exc_info=True,
            )
