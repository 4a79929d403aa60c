"""Sockets closed when their session ends: revocations announced by the decorated session
store and heard by `LiveSockets`, and the periodic re-check behind them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tessera.features.identity.adapters.memory_sessions import InMemorySessionStore
from tessera.features.identity.domain.sessions import DeviceMemory, SessionRecord
from tessera.features.notifications.application.live_sockets import LiveSockets
from tessera.features.notifications.application.revocations import (
    AnnouncingSessionStore,
    Revocation,
)
from tessera.shared.adapters.memory_pubsub import InMemoryPubSub
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import DependencyUnavailable
from tests.fakes.clock import FakeClock
from tests.unit.notifications.fakes import NOW

USER, TENANT = uuid.uuid4(), uuid.uuid4()


class Sessions:
    """Live sessions in memory, announced through an in-memory pub/sub."""

    def __init__(self) -> None:
        self.pubsub = InMemoryPubSub()
        self.inner = InMemorySessionStore(clock_ms=lambda: NOW.timestamp() * 1000)
        self.store = AnnouncingSessionStore(self.inner, self.pubsub)

    async def open(self, user: uuid.UUID = USER) -> Principal:
        session = SessionRecord(
            session_id=uuid.uuid4(),
            user_id=user,
            tenant_id=TENANT,
            role=Role.USER,
            created_at=NOW,
            last_seen_at=NOW,
            expires_at=NOW + timedelta(days=1),
            ip_address=None,
            user_agent=None,
            generation=0,
            rotated_at=NOW,
        )
        await self.store.create(
            session,
            refresh_hash="h",
            idle_seconds=3600,
            max_sessions=100,
            devices=DeviceMemory(seconds=3600, most=10),
        )
        return Principal(user, TENANT, Role.USER, session.session_id)

    def sockets(self) -> LiveSockets:
        return LiveSockets(self.pubsub, self.store, FakeClock(NOW))


async def told(event: asyncio.Event) -> bool:
    try:
        await asyncio.wait_for(event.wait(), 1)
    except TimeoutError:
        return False
    return True


async def test_a_logout_closes_that_sessions_sockets_and_no_other() -> None:
    sessions = Sessions()
    live = sessions.sockets()
    first, second = await sessions.open(), await sessions.open()
    ended, kept = asyncio.Event(), asyncio.Event()
    async with live.watch(first, ended.set), live.watch(second, kept.set):
        assert await sessions.store.revoke(USER, first.session_id)
        assert await told(ended)
        assert not kept.is_set()
    await live.aclose()


async def test_ending_every_session_but_one_spares_that_one() -> None:
    sessions = Sessions()
    live = sessions.sockets()
    mine, elsewhere = await sessions.open(), await sessions.open()
    other_user = await sessions.open(uuid.uuid4())
    events = {name: asyncio.Event() for name in ("mine", "elsewhere", "other")}
    async with (
        live.watch(mine, events["mine"].set),
        live.watch(elsewhere, events["elsewhere"].set),
        live.watch(other_user, events["other"].set),
    ):
        assert await sessions.store.revoke_all(USER, keep=mine.session_id) == 1
        assert await told(events["elsewhere"])
        assert not events["mine"].is_set()
        assert not events["other"].is_set()
    assert live.count == 0
    await live.aclose()


async def test_the_recheck_closes_sockets_whose_session_ended_unannounced() -> None:
    sessions = Sessions()
    live = sessions.sockets()
    gone, alive = await sessions.open(), await sessions.open()
    closed, open_ = asyncio.Event(), asyncio.Event()
    async with live.watch(gone, closed.set), live.watch(alive, open_.set):
        await sessions.inner.revoke(USER, gone.session_id)  # not announced: behind its back
        assert not closed.is_set()
        assert await live.recheck() == 1
        assert closed.is_set()
        assert not open_.is_set()
    await live.aclose()


async def test_a_failed_announcement_never_fails_the_logout() -> None:
    sessions = Sessions()

    async def down(channel: str, message: bytes) -> None:
        raise DependencyUnavailable()

    sessions.pubsub.publish = down  # type: ignore[method-assign]
    principal = await sessions.open()
    assert await sessions.store.revoke(USER, principal.session_id)


@pytest.mark.parametrize(
    ("revocation", "ends"),
    [
        (Revocation(USER, session_id=uuid.UUID(int=1)), {1}),
        (Revocation(USER, keep=uuid.UUID(int=1)), {2, 3}),
        (Revocation(USER), {1, 2, 3}),
    ],
    ids=["one", "all-but-one", "all"],
)
def test_a_revocation_names_the_sessions_it_ends(revocation: Revocation, ends: set[int]) -> None:
    assert {n for n in (1, 2, 3) if revocation.ends(uuid.UUID(int=n))} == ends


async def test_a_reused_refresh_token_closes_the_sessions_sockets() -> None:
    sessions = Sessions()
    live = sessions.sockets()
    principal = await sessions.open()
    ended = asyncio.Event()

    async def rotate(presented: str, new: str) -> None:
        await sessions.store.rotate(
            USER,
            principal.session_id,
            presented_hash=presented,
            new_hash=new,
            now=NOW,
            grace_seconds=0,
            idle_seconds=3600,
        )

    async with live.watch(principal, ended.set):
        await rotate("h", "h2")
        assert not ended.is_set()
        await rotate("stolen", "h3")  # neither the current token nor its parent: theft
        assert await told(ended)
    await live.aclose()
