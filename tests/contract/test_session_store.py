"""The `SessionStore` contract, run against the in-memory adapter and against real Redis: a
single server, and a three-node Redis Cluster on which every script the store runs is checked
to touch keys of one hash slot only (`tests/redis_slots.py`).

Each test gets a clock: for memory it is virtual (advancing costs nothing), for Redis it is the
wall clock (advancing sleeps, since Redis expires keys in real time). Where the port takes a
`now`, tests pass one ahead of the clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from tessera.features.identity.adapters.memory_sessions import InMemorySessionStore
from tessera.features.identity.adapters.redis_sessions import RedisSessionStore
from tessera.features.identity.application.accounts import profile_key
from tessera.features.identity.application.ports import LiveSessions, SessionStore, Touched
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    RotationOutcome,
    SessionRecord,
    device_fingerprint,
)
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.adapters.redis_batching import CommandBatcher, batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.application.ports import Cache
from tessera.shared.application.rate_limits import RateLimitGroup, RoleLimits
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import DependencyUnavailable
from tests import services
from tests.redis_slots import SlotWatch
from tests.redis_topologies import ClusterRedis

IDLE = 60
GRACE = 10
MOST = 100
MEMORY = DeviceMemory(seconds=3600, most=10)
LIMITS = RoleLimits(api=RateLimitGroup("api", limit=5), admin=RateLimitGroup("admin", limit=8))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def to_the_ms(moment: datetime) -> datetime:
    return EPOCH + (moment - EPOCH) // MS * MS


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def advance(self, by: float) -> None: ...


class VirtualClock:
    def __init__(self) -> None:
        self.current = to_the_ms(datetime.now(UTC))

    def now(self) -> datetime:
        return self.current

    def ms(self) -> float:
        return (self.current - EPOCH) / MS

    async def advance(self, by: float) -> None:
        self.current += seconds(by)


class WallClock:
    def now(self) -> datetime:
        return to_the_ms(datetime.now(UTC))

    async def advance(self, by: float) -> None:
        await asyncio.sleep(by)


class Sessions(SessionStore, LiveSessions, Protocol):
    """Both ports, as each adapter implements them."""


@dataclass
class Backend:
    store: Sessions
    clock: Clock
    cache: Cache
    """The cache the profiles are kept in, as the application wires it beside the store."""


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = VirtualClock()
        memory = InMemoryCache()
        yield Backend(InMemorySessionStore(clock_ms=clock.ms, cache=memory), clock, memory)
        return
    if request.param == "sentinel":  # the primary a Sentinel names (tests/redis_topologies.py)
        client = connect_redis(request.getfixturevalue("sentinel_redis").topology)
        prefix = f"test:{uuid.uuid4().hex[:12]}:"
        yield redis_backend(CommandBatcher(client), prefix)
        await client.aclose()
        return
    if request.param == "cluster":
        # Every script the test made the store run touched keys of one hash slot.
        nodes: ClusterRedis = request.getfixturevalue("cluster_redis")
        client = connect_redis(nodes.topology)
        prefix = f"test:{uuid.uuid4().hex[:12]}:"
        async with SlotWatch([node.port for node in nodes.nodes]) as watch:
            yield redis_backend(batcher_for(client), prefix)
            calls = await watch.script_calls()
        await client.aclose()
        for call in calls:
            assert len(call.slots()) == 1, f"a script touched several slots: {call}"
        return
    async with services.redis_namespace() as prefix:
        client = connect_redis(services.TEST_REDIS_URL)
        yield redis_backend(CommandBatcher(client), prefix)
        await client.aclose(close_connection_pool=True)


def redis_backend(batcher: CommandBatcher, prefix: str) -> Backend:
    store = RedisSessionStore(batcher, prefix=prefix)
    return Backend(store, WallClock(), RedisCache(batcher, prefix=prefix))


@pytest.fixture
def store(backend: Backend) -> Sessions:
    return backend.store


@pytest.fixture
def clock(backend: Backend) -> Clock:
    return backend.clock


def new_session(
    clock: Clock,
    *,
    user_id: uuid.UUID | None = None,
    lifetime: timedelta = timedelta(days=7),
    age: timedelta = timedelta(0),
    role: Role = Role.USER,
) -> SessionRecord:
    created = clock.now() - age
    return SessionRecord(
        session_id=uuid.uuid4(),
        user_id=user_id or uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        role=role,
        created_at=created,
        last_seen_at=created,
        expires_at=created + lifetime,
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        generation=0,
        rotated_at=created,
    )


async def start(
    store: Sessions,
    session: SessionRecord,
    *,
    token: str = "t0",
    idle: int = IDLE,
    most: int = MOST,
    devices: DeviceMemory = MEMORY,
) -> SessionRecord:
    await store.create(
        session,
        refresh_hash=hash_of(token),
        idle_seconds=idle,
        max_sessions=most,
        devices=devices,
    )
    return session


async def cap(store: Sessions, session: SessionRecord, most: int) -> list[uuid.UUID]:
    """Start `session` with at most `most` sessions; the ids of those that ended."""
    return list(
        await store.create(
            session,
            refresh_hash=hash_of("t0"),
            idle_seconds=IDLE,
            max_sessions=most,
            devices=MEMORY,
        )
    )


async def alive(store: Sessions, session: SessionRecord, now: datetime) -> bool:
    found = await store.touch(session.user_id, session.session_id, now=now, idle_seconds=IDLE)
    return found is not None


async def rotate(
    store: Sessions, session: SessionRecord, presented: str, new: str, now: datetime
) -> tuple[RotationOutcome, SessionRecord | None]:
    rotation = await store.rotate(
        session.user_id,
        session.session_id,
        presented_hash=hash_of(presented),
        new_hash=hash_of(new),
        now=now,
        grace_seconds=GRACE,
        idle_seconds=IDLE,
    )
    return rotation.outcome, rotation.session


async def test_a_created_session_reads_back_with_its_fields(store: Sessions, clock: Clock) -> None:
    session = await start(store, new_session(clock, role=Role.TENANT_ADMIN))
    anonymous = await start(store, replace(new_session(clock), ip_address=None, user_agent=None))
    now = clock.now() + seconds(1)
    for started in (session, anonymous):
        found = await store.touch(started.user_id, started.session_id, now=now, idle_seconds=IDLE)
        assert found == Touched(
            Principal(started.user_id, started.tenant_id, started.role, started.session_id)
        ), "who the session speaks for, and no count when none was asked for"
        listed = await store.list(started.user_id, now=now)
        assert listed == [replace(started, last_seen_at=now)], "the touch was recorded"


async def test_touch_answers_for_the_session_asked_about_only(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    first, second = [await start(store, new_session(clock, user_id=user)) for _ in range(2)]
    now = clock.now()
    for session in (first, second):
        found = await store.touch(user, session.session_id, now=now, idle_seconds=IDLE)
        assert found is not None
        assert found.caller.session_id == session.session_id
    assert await store.touch(uuid.uuid4(), first.session_id, now=now, idle_seconds=IDLE) is None


async def test_times_are_kept_to_the_millisecond(store: Sessions, clock: Clock) -> None:
    session = new_session(clock)
    await start(
        store, replace(session, created_at=session.created_at + timedelta(microseconds=999))
    )
    now = clock.now()
    touched = await store.touch(
        session.user_id,
        session.session_id,
        now=now + timedelta(microseconds=1500),
        idle_seconds=IDLE,
    )
    assert touched is not None
    [found] = await store.list(session.user_id, now=now)
    assert found.created_at == session.created_at
    assert found.last_seen_at == now + MS
    assert found.created_at.tzinfo is not None


async def test_a_session_created_past_its_expiry_is_not_kept(store: Sessions, clock: Clock) -> None:
    user = uuid.uuid4()
    ended = await start(
        store, new_session(clock, user_id=user, age=seconds(10), lifetime=seconds(5))
    )
    assert not await alive(store, ended, clock.now())
    assert await store.revoke(user, ended.session_id) is False


async def test_an_unknown_session_reads_as_none(store: Sessions, clock: Clock) -> None:
    assert await store.touch(uuid.uuid4(), uuid.uuid4(), now=clock.now(), idle_seconds=IDLE) is None


async def test_an_idle_session_ends_after_the_idle_time(store: Sessions, clock: Clock) -> None:
    session = await start(store, new_session(clock), idle=1)
    await clock.advance(1.2)
    assert not await alive(store, session, clock.now())
    assert await store.list(session.user_id, now=clock.now()) == []


async def test_use_pushes_the_idle_expiry_back(store: Sessions, clock: Clock) -> None:
    session = await start(store, new_session(clock), idle=1)
    for _ in range(2):
        await clock.advance(0.7)
        found = await store.touch(
            session.user_id, session.session_id, now=clock.now(), idle_seconds=1
        )
        assert found is not None, "each use gives the session another idle second"
    await clock.advance(1.2)
    assert not await alive(store, session, clock.now())


async def test_use_never_extends_a_session_past_its_absolute_expiry(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock, lifetime=seconds(2)))
    await clock.advance(1)
    assert await alive(store, session, clock.now())
    await clock.advance(1.2)
    assert not await alive(store, session, clock.now())


async def test_a_session_read_after_its_absolute_expiry_is_gone(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock, lifetime=seconds(30)))
    assert not await alive(store, session, clock.now() + seconds(31))
    assert not await alive(store, session, clock.now()), "it was deleted, not only hidden"
    late = await start(store, new_session(clock, lifetime=seconds(30)))
    assert await rotate(store, late, "t0", "t1", clock.now() + seconds(31)) == (
        RotationOutcome.MISSING,
        None,
    )


async def test_rotating_the_current_token_starts_the_next_generation(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock))
    first = clock.now() + seconds(1)
    outcome, rotated = await rotate(store, session, "t0", "t1", first)
    assert outcome is RotationOutcome.ROTATED
    assert rotated == replace(session, generation=1, rotated_at=first, last_seen_at=first)
    second = first + seconds(20)
    outcome, rotated = await rotate(store, session, "t1", "t2", second)
    assert outcome is RotationOutcome.ROTATED
    assert rotated is not None
    assert (rotated.generation, rotated.rotated_at) == (2, second)


async def test_the_parent_token_within_the_grace_window_changes_nothing(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock))
    now = clock.now()
    _, rotated = await rotate(store, session, "t0", "t1", now)
    assert rotated is not None
    outcome, again = await rotate(store, session, "t0", "t1-bis", now + seconds(GRACE))
    assert outcome is RotationOutcome.GRACE, "the window includes its last instant"
    assert again == replace(rotated, last_seen_at=now + seconds(GRACE))
    outcome, _ = await rotate(store, session, "t1", "t2", now + seconds(GRACE + 1))
    assert outcome is RotationOutcome.ROTATED, "the token issued by the rotation is still current"


async def test_the_parent_token_after_the_grace_window_revokes_the_session(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock))
    now = clock.now()
    await rotate(store, session, "t0", "t1", now)
    assert await rotate(store, session, "t0", "t9", now + seconds(GRACE + 1)) == (
        RotationOutcome.REUSED,
        None,
    )
    assert not await alive(store, session, now)
    assert (await rotate(store, session, "t1", "t2", now))[0] is RotationOutcome.MISSING


@pytest.mark.parametrize("presented", ["t0", "never-issued"])
async def test_an_older_or_unknown_token_revokes_the_session(
    store: Sessions, clock: Clock, presented: str
) -> None:
    session = await start(store, new_session(clock))
    now = clock.now()
    await rotate(store, session, "t0", "t1", now)
    await rotate(store, session, "t1", "t2", now)
    assert await rotate(store, session, presented, "t9", now) == (RotationOutcome.REUSED, None)
    assert not await alive(store, session, now)
    assert await store.list(session.user_id, now=now) == []


async def test_rotating_a_missing_session_is_missing(store: Sessions, clock: Clock) -> None:
    ghost = new_session(clock)
    assert await rotate(store, ghost, "t0", "t1", clock.now()) == (RotationOutcome.MISSING, None)


async def test_concurrent_rotations_with_one_token_rotate_once(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock))
    now = clock.now()
    results = await asyncio.gather(
        *(rotate(store, session, "t0", f"t1-{n}", now) for n in range(10))
    )
    outcomes = Counter(outcome for outcome, _ in results)
    assert outcomes == {RotationOutcome.ROTATED: 1, RotationOutcome.GRACE: 9}
    assert {s.generation for _, s in results if s is not None} == {1}
    winner = next(n for n, (o, _) in enumerate(results) if o is RotationOutcome.ROTATED)
    assert (await rotate(store, session, f"t1-{winner}", "t2", now))[0] is RotationOutcome.ROTATED


async def test_list_gives_the_users_live_sessions_newest_first(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    oldest = await start(store, new_session(clock, user_id=user, age=seconds(3)))
    middle = await start(store, new_session(clock, user_id=user, age=seconds(2)))
    newest = await start(store, new_session(clock, user_id=user, age=seconds(1)))
    await start(store, new_session(clock, user_id=user, age=seconds(4), lifetime=seconds(5)))
    await start(store, new_session(clock))  # another user's
    listed = await store.list(user, now=clock.now() + seconds(2))
    assert [s.session_id for s in listed] == [
        newest.session_id,
        middle.session_id,
        oldest.session_id,
    ]
    assert listed[0] == newest, "listing is not use"
    assert await store.list(uuid.uuid4(), now=clock.now()) == []


async def test_revoke_ends_one_session(store: Sessions, clock: Clock) -> None:
    user = uuid.uuid4()
    gone = await start(store, new_session(clock, user_id=user))
    kept = await start(store, new_session(clock, user_id=user))
    assert await store.revoke(user, gone.session_id) is True
    assert not await alive(store, gone, clock.now())
    assert await alive(store, kept, clock.now())
    assert await store.revoke(user, gone.session_id) is False
    assert await store.revoke(user, uuid.uuid4()) is False


async def test_revoke_all_ends_every_session_but_the_kept_one(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    sessions = [await start(store, new_session(clock, user_id=user)) for _ in range(3)]
    stranger = await start(store, new_session(clock))
    assert await store.revoke_all(user, keep=sessions[1].session_id) == 2
    listed = await store.list(user, now=clock.now())
    assert [s.session_id for s in listed] == [sessions[1].session_id]
    assert await store.revoke_all(user) == 1
    assert await store.list(user, now=clock.now()) == []
    assert await store.revoke_all(user) == 0
    assert await alive(store, stranger, clock.now())


async def test_a_role_change_applies_to_the_users_live_sessions(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    sessions = [await start(store, new_session(clock, user_id=user)) for _ in range(2)]
    stranger = await start(store, new_session(clock))
    await store.set_role(user, Role.ADMIN)
    await store.set_role(uuid.uuid4(), Role.ADMIN)  # no sessions: nothing happens
    now = clock.now()
    for session in sessions:
        found = await store.touch(user, session.session_id, now=now, idle_seconds=IDLE)
        assert found is not None
        assert found.caller.role is Role.ADMIN
    assert {s.role for s in await store.list(user, now=now)} == {Role.ADMIN}
    found = await store.touch(stranger.user_id, stranger.session_id, now=now, idle_seconds=IDLE)
    assert found is not None
    assert found.caller.role is Role.USER


async def test_a_session_keeps_how_it_was_authenticated_and_its_enrolment_mark(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    plain = await start(store, new_session(clock, user_id=user))
    with_mfa = await start(store, replace(new_session(clock, user_id=user), mfa=True))
    marked = await start(store, replace(new_session(clock, user_id=user), needs_mfa_enrolment=True))
    now = clock.now()
    listed = {s.session_id: s for s in await store.list(user, now=now)}
    assert [
        (listed[s.session_id].mfa, listed[s.session_id].needs_mfa_enrolment)
        for s in (plain, with_mfa, marked)
    ] == [(False, False), (True, False), (False, True)]
    for session, must_enrol in ((plain, False), (with_mfa, False), (marked, True)):
        for count_in in (None, LIMITS):
            found = await store.touch(
                user, session.session_id, now=now, idle_seconds=IDLE, count_in=count_in
            )
            assert found is not None
            assert found.caller.needs_mfa_enrolment is must_enrol


async def test_marking_a_session_as_mfa_lifts_its_enrolment_mark(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    marked, other = [
        await start(store, replace(new_session(clock, user_id=user), needs_mfa_enrolment=True))
        for _ in range(2)
    ]
    assert await store.mark_mfa(user, marked.session_id)
    now = clock.now()
    found = await store.touch(user, marked.session_id, now=now, idle_seconds=IDLE)
    assert found is not None
    assert not found.caller.needs_mfa_enrolment
    found = await store.touch(user, other.session_id, now=now, idle_seconds=IDLE)
    assert found is not None
    assert found.caller.needs_mfa_enrolment, "the user's other sessions keep theirs"
    listed = {s.session_id: s for s in await store.list(user, now=now)}
    assert listed[marked.session_id].mfa
    assert not await store.mark_mfa(user, uuid.uuid4()), "no such session"
    await store.revoke(user, other.session_id)
    assert not await store.mark_mfa(user, other.session_id), "an ended session stays ended"
    assert await store.touch(user, other.session_id, now=now, idle_seconds=IDLE) is None


async def counted(
    store: Sessions, session: SessionRecord, now: datetime, limits: RoleLimits = LIMITS
) -> float | None:
    """The count of a counting touch of `session` (None when it had ended)."""
    found = await store.touch(
        session.user_id, session.session_id, now=now, idle_seconds=IDLE, count_in=limits
    )
    if found is None:
        return None
    assert found.requests is not None
    return found.requests.value


async def test_a_touch_brings_the_users_cached_profile_along(backend: Backend) -> None:
    store, cache = backend.store, backend.cache
    user = uuid.uuid4()
    laptop, phone = [await start(store, new_session(backend.clock, user_id=user)) for _ in "ab"]
    stranger = await start(store, new_session(backend.clock))
    now = backend.clock.now()

    async def profile(session: SessionRecord) -> bytes | None:
        found = await store.touch(
            session.user_id, session.session_id, now=now, idle_seconds=IDLE, count_in=LIMITS
        )
        assert found is not None
        return found.profile

    assert await profile(laptop) is None, "nothing cached yet"
    await cache.set(profile_key(user), b'{"full_name":"Ada"}', ttl_seconds=60)
    assert [await profile(s) for s in (laptop, phone)] == [b'{"full_name":"Ada"}'] * 2
    assert await profile(stranger) is None, "another user's profile never comes along"
    plain = await store.touch(user, phone.session_id, now=now, idle_seconds=IDLE)
    assert plain is not None
    assert plain.profile == b'{"full_name":"Ada"}', "with or without counting"
    await cache.delete(profile_key(user))
    assert await profile(laptop) is None, "a deleted copy is gone at once"


async def test_a_counting_touch_counts_the_user_across_their_sessions(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    laptop, phone = [await start(store, new_session(clock, user_id=user)) for _ in range(2)]
    stranger = await start(store, new_session(clock))
    now = clock.now()
    assert [await counted(store, s, now) for s in (laptop, phone, laptop)] == [1, 2, 3]
    assert await counted(store, stranger, now) == 1, "another user, a count of their own"
    plain = await store.touch(user, phone.session_id, now=now, idle_seconds=IDLE)
    assert plain == Touched(Principal(user, phone.tenant_id, Role.USER, phone.session_id))
    found = await store.touch(user, laptop.session_id, now=now, idle_seconds=IDLE, count_in=LIMITS)
    assert found is not None
    assert found.requests is not None
    assert found.requests.value == 4, "a touch asked not to count did not"
    assert 0 < found.requests.resets_in <= 60


async def test_a_counting_touch_counts_in_the_group_of_the_sessions_current_role(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    session = await start(store, new_session(clock, user_id=user, role=Role.TENANT_ADMIN))
    now = clock.now()
    assert [await counted(store, session, now) for _ in range(2)] == [1, 2], "the api group"
    await store.set_role(user, Role.ADMIN)  # since the token was issued
    assert await counted(store, session, now) == 1, "the admin group's own count"
    await store.set_role(user, Role.USER)
    assert await counted(store, session, now) == 3, "back in the api group"


async def test_an_ended_session_counts_nowhere(store: Sessions, clock: Clock) -> None:
    user = uuid.uuid4()
    live, ended = [await start(store, new_session(clock, user_id=user)) for _ in range(2)]
    await store.revoke(user, ended.session_id)
    now = clock.now()
    assert await counted(store, ended, now) is None
    assert await counted(store, replace(live, session_id=uuid.uuid4()), now) is None
    assert await counted(store, live, now) == 1, "the dead tokens spent none of the budget"


async def test_the_count_starts_again_once_its_window_has_passed(
    store: Sessions, clock: Clock
) -> None:
    second = RateLimitGroup("api", limit=5, window_seconds=1)
    limits = RoleLimits(api=second, admin=LIMITS.admin)
    session = await start(store, new_session(clock))
    assert [await counted(store, session, clock.now(), limits) for _ in range(3)] == [1, 2, 3]
    await clock.advance(1.1)
    found = await store.touch(
        session.user_id, session.session_id, now=clock.now(), idle_seconds=IDLE, count_in=limits
    )
    assert found is not None
    assert found.requests is not None
    assert found.requests.value == 1
    assert 0.5 < found.requests.resets_in <= 1


async def test_concurrent_counting_touches_count_every_one_exactly_once(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, new_session(clock))
    now = clock.now()
    counts = await asyncio.gather(*(counted(store, session, now) for _ in range(200)))
    assert sorted(c for c in counts if c is not None) == list(range(1, 201))


async def test_a_session_past_the_cap_ends_the_users_oldest_ones(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    oldest, older, old = [
        await start(store, new_session(clock, user_id=user, age=seconds(age)), most=3)
        for age in (30, 20, 10)
    ]
    stranger = await start(store, new_session(clock, age=seconds(40)), most=1)
    newer = new_session(clock, user_id=user, age=seconds(5))
    assert await cap(store, newer, 3) == [oldest.session_id]
    newest = new_session(clock, user_id=user)
    ended = await cap(store, newest, 2)
    assert ended == [older.session_id, old.session_id], "oldest first, as many as needed"
    now = clock.now()
    listed = await store.list(user, now=now)
    assert [s.session_id for s in listed] == [newest.session_id, newer.session_id]
    for gone in (oldest, older, old):
        assert not await alive(store, gone, now)
    assert await alive(store, stranger, now), "another user's sessions are not counted"


async def test_the_cap_counts_live_sessions_and_never_ends_the_new_one(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    first, second, third = [
        await start(store, new_session(clock, user_id=user, age=seconds(age)), most=3)
        for age in (3, 2, 1)
    ]
    await store.revoke(user, second.session_id)
    fourth = new_session(clock, user_id=user)
    assert await cap(store, fourth, 3) == [], "the revoked one left room"
    backdated = new_session(clock, user_id=user, age=seconds(30))
    ended = await cap(store, backdated, 3)
    assert ended == [first.session_id], "the oldest other one, not the new one"
    listed = await store.list(user, now=clock.now())
    assert {s.session_id for s in listed} == {
        third.session_id,
        fourth.session_id,
        backdated.session_id,
    }


async def knows(
    store: Sessions, session: SessionRecord, since: datetime, *, agent: str | None = None
) -> bool:
    return await store.knows_device(
        session.user_id,
        ip_address=session.ip_address,
        user_agent=agent if agent is not None else session.user_agent,
        since=since,
    )


def signing_in(
    clock: Clock, user: uuid.UUID, agent: str, *, age: float = 0, lifetime: float = 7 * 86400
) -> SessionRecord:
    """A session of `user` from the browser `agent`, signed in `age` seconds ago."""
    session = new_session(clock, user_id=user, age=seconds(age), lifetime=seconds(lifetime))
    return replace(session, user_agent=agent)


async def test_a_sign_in_makes_its_device_known_as_seen_at_that_time(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    session = new_session(clock, user_id=user, age=seconds(5))
    signed_in = session.last_seen_at
    assert not await knows(store, session, signed_in - seconds(60))
    await start(store, session)
    assert await knows(store, session, signed_in), "seen at that very millisecond"
    assert not await knows(store, session, signed_in + MS), "not seen since"
    assert not await knows(store, session, signed_in, agent="Other Browser/1.0")
    assert not await store.knows_device(
        user, ip_address="198.51.100.1", user_agent=session.user_agent, since=signed_in
    )
    assert not await store.knows_device(
        uuid.uuid4(),
        ip_address=session.ip_address,
        user_agent=session.user_agent,
        since=signed_in,
    ), "another user's device"


async def test_an_unknown_address_or_agent_is_the_same_as_an_empty_one(
    store: Sessions, clock: Clock
) -> None:
    session = await start(store, replace(new_session(clock), ip_address=None, user_agent=None))
    assert await store.knows_device(
        session.user_id, ip_address="", user_agent=None, since=session.last_seen_at
    )


async def test_a_later_sign_in_moves_the_device_on_and_an_earlier_one_not_back(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    first = await start(store, new_session(clock, user_id=user, age=seconds(20)))
    later = await start(store, new_session(clock, user_id=user, age=seconds(10)))
    assert await knows(store, first, later.last_seen_at)
    await start(store, new_session(clock, user_id=user, age=seconds(30)))  # a late writer
    assert await knows(store, first, later.last_seen_at), "never moved back"


async def test_a_device_stays_known_after_its_sessions_end(store: Sessions, clock: Clock) -> None:
    """A logout, the session's expiry and the cap end sessions but forget no device, so
    signing in again from it is no new sign-in."""
    user = uuid.uuid4()
    since = clock.now() - seconds(60)
    phone = await start(store, signing_in(clock, user, "Phone/3"))
    assert await store.revoke(user, phone.session_id)
    brief = await start(store, signing_in(clock, user, "Tablet/1", lifetime=30))
    assert not await alive(store, brief, clock.now() + seconds(31))
    oldest = await start(store, signing_in(clock, user, "Laptop/2", age=9))
    for age in (3, 2, 1):
        await start(store, new_session(clock, user_id=user, age=seconds(age)), most=3)
    assert not await alive(store, oldest, clock.now()), "the cap ended it"
    for ended in (phone, brief, oldest):
        assert await knows(store, ended, since), ended.user_agent


async def test_a_sign_in_forgets_the_devices_not_seen_within_the_memory(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    short = DeviceMemory(seconds=10, most=10)
    at = VirtualClock()  # one instant for the three sign-ins, whatever the clock does
    stale = await start(store, signing_in(at, user, "Old/1", age=11), devices=short)
    recent = await start(store, signing_in(at, user, "Recent/1", age=10), devices=short)
    ever = clock.now() - seconds(3600)
    assert await knows(store, stale, ever), "within the memory of the last sign-in"
    await start(store, new_session(at, user_id=user), devices=short)
    assert not await knows(store, stale, ever), "11 s before the latest sign-in: forgotten"
    assert await knows(store, recent, ever), "10 s before it: remembered"


async def test_a_user_keeps_the_most_recently_seen_devices_only(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    three = DeviceMemory(seconds=3600, most=3)
    browsers = [
        await start(store, signing_in(clock, user, f"Browser/{n}", age=5 - n), devices=three)
        for n in range(5)
    ]
    ever = clock.now() - seconds(60)
    assert [await knows(store, b, ever) for b in browsers] == [False, False, True, True, True]
    await start(store, signing_in(clock, user, "Browser/2"), devices=three)  # seen again
    newcomer = await start(store, signing_in(clock, user, "Browser/9"), devices=three)
    assert [await knows(store, b, ever) for b in [*browsers[2:], newcomer]] == [
        True,
        False,
        True,
        True,
    ], "the least recently seen went"


async def test_of_devices_seen_at_the_same_time_the_lowest_fingerprint_goes_first(
    store: Sessions, clock: Clock
) -> None:
    """Both stores break ties as a Redis sorted set ranks them, so they agree exactly."""
    one = DeviceMemory(seconds=3600, most=1)
    first = signing_in(clock, uuid.uuid4(), "A/1")
    second = replace(first, session_id=uuid.uuid4(), user_agent="B/1")
    for session in (first, second):
        await start(store, session, devices=one)
    kept = max(first, second, key=lambda s: device_fingerprint(s.ip_address, s.user_agent))
    known = [await knows(store, s, first.last_seen_at) for s in (first, second)]
    assert known == [kept is first, kept is second]


async def test_a_reused_refresh_token_forgets_the_users_devices(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    laptop = await start(store, signing_in(clock, user, "Laptop/2"))
    phone = await start(store, signing_in(clock, user, "Phone/3"), token="p0")
    stranger = await start(store, new_session(clock))
    since, now = clock.now() - seconds(60), clock.now()
    assert (await rotate(store, phone, "p0", "p1", now))[0] is RotationOutcome.ROTATED
    assert await knows(store, phone, since), "a rotation forgets nothing"
    assert (await rotate(store, phone, "p0", "p9", now + seconds(GRACE + 1)))[0] is (
        RotationOutcome.REUSED
    )
    assert not await knows(store, phone, since)
    assert not await knows(store, laptop, since), "every device of the user"
    assert await alive(store, laptop, now), "whose other sessions live on"
    assert await knows(store, stranger, since), "another user's are untouched"


async def test_revoke_all_forgets_the_devices_but_the_kept_sessions(
    store: Sessions, clock: Clock
) -> None:
    user = uuid.uuid4()
    # Not ASCII: Redis makes the kept device's fingerprint itself, from the stored agent.
    here = await start(store, signing_in(clock, user, "Navigateur/1 (Wayland; ünïcode)"))
    phone = await start(store, signing_in(clock, user, "Phone/3"))
    gone = await start(store, signing_in(clock, user, "Old/1"))
    assert await store.revoke(user, gone.session_id)  # logged out: known, without a session
    since = clock.now() - seconds(60)
    assert await store.revoke_all(user, keep=here.session_id) == 1
    assert await knows(store, here, here.last_seen_at), "kept as it was seen"
    assert not await knows(store, phone, since)
    assert not await knows(store, gone, since)
    assert await store.revoke_all(user) == 1
    assert not await knows(store, here, since)
    again = await start(store, signing_in(clock, user, "Phone/3"))
    assert await store.revoke(user, again.session_id)
    assert await store.revoke_all(user, keep=again.session_id) == 0
    assert not await knows(store, again, since), "forgotten with no session left to end"


async def test_the_memory_store_without_a_clock_judges_by_the_latest_time_it_saw() -> None:
    store = InMemorySessionStore()
    clock = VirtualClock()
    user = uuid.uuid4()
    active = await start(store, new_session(clock, user_id=user))
    idle = await start(store, new_session(clock, user_id=user))
    later = clock.now() + seconds(IDLE + 1)
    assert not await alive(store, active, later)
    assert await store.revoke(user, idle.session_id) is False, "it had ended by `later`"


async def test_the_memory_store_sweeps_away_users_devices_past_their_memory() -> None:
    """Embedded mode's counterpart of the Redis key's time to live: a user who signed in
    once and never again does not stay in memory."""
    clock = VirtualClock()
    store = InMemorySessionStore(clock_ms=clock.ms)
    short = DeviceMemory(seconds=10, most=10)
    early = await start(store, new_session(clock), devices=short)
    await clock.advance(11)
    assert await knows(store, early, early.last_seen_at), "not swept yet"
    for _ in range(1024):  # a sweep runs every 1024 sign-ins
        await start(store, new_session(clock), devices=short)
    assert not await knows(store, early, early.last_seen_at)


async def test_redis_keeps_the_spec_key_layout_and_only_token_hashes(redis_prefix: str) -> None:
    client = Redis.from_url(services.TEST_REDIS_URL)
    store = RedisSessionStore(CommandBatcher(client), prefix=redis_prefix)
    clock = WallClock()
    session = new_session(clock)
    secret, successor = "refresh-token-plain-secret", "refresh-token-plain-successor"
    try:
        await start(store, session, token=secret)
        await rotate(store, session, secret, successor, clock.now())
        assert await counted(store, session, clock.now()) == 1
        tag = f"{{{session.user_id}}}"  # the user's hash tag: one Redis Cluster slot
        key = f"{redis_prefix}session:user:{tag}:{session.session_id}"
        index = f"{redis_prefix}session:index:{tag}"
        known = f"{redis_prefix}session:known-devices:{tag}"
        requests = f"{redis_prefix}ratelimit:api:{tag}"
        assert sorted(await client.keys(f"{redis_prefix}*")) == sorted(
            [key.encode(), index.encode(), known.encode(), requests.encode()]
        )
        assert await client.get(requests) == b"1"
        assert 59_000 < await client.pttl(requests) <= 60_000
        assert 0 < await client.pttl(key) <= IDLE * 1000
        assert await client.pttl(index) >= await client.pttl(key)
        assert MEMORY.seconds * 1000 - 60_000 < await client.pttl(known) <= MEMORY.seconds * 1000
        device = device_fingerprint(session.ip_address, session.user_agent)
        signed_in = (session.last_seen_at - EPOCH) // MS
        assert await client.zrange(known, 0, -1, withscores=True) == [
            (device.encode(), signed_in)
        ], "the device's fingerprint (neither its address nor the token), by sign-in time"
        assert await client.smembers(index) == {str(session.session_id).encode()}
        stored = await client.hgetall(key)
        fields = {text(k): text(v) for k, v in stored.items()}
        assert fields["token"] == hash_of(successor)
        assert fields["previous_token"] == hash_of(secret)
        assert fields["user_id"] == str(session.user_id)
        assert {"created_at", "expires_at", "ip_address", "user_agent"} <= fields.keys()
        others = [v for k, v in fields.items() if k not in {"token", "previous_token"}]
        assert not any(re.search("[0-9a-f]{32}", v) for v in others), "no other token-like data"
        assert not any("plain" in v for v in fields.values()), "never the token itself"
    finally:
        await client.aclose()


async def test_redis_leaves_an_earlier_versions_device_hash_to_expire(redis_prefix: str) -> None:
    """Earlier versions kept `session:devices:<user_id>` hashes (the devices of live
    sessions, each to the end of its last one). Nothing reads or writes them now: after an
    upgrade each expires by itself within a session idle time, and sign-ins work beside it
    (the first from each device is reported once, as after a logout before)."""
    client = Redis.from_url(services.TEST_REDIS_URL)
    store = RedisSessionStore(CommandBatcher(client), prefix=redis_prefix)
    clock = WallClock()
    session = new_session(clock)
    old = f"{redis_prefix}session:devices:{session.user_id}"
    field = f"{session.ip_address}\n{session.user_agent}"
    ends = str((clock.now() - EPOCH) // MS + IDLE * 1000)
    try:
        await client.hset(old, field, ends)
        await client.pexpire(old, IDLE * 1000)
        since = clock.now() - seconds(60)
        assert not await knows(store, session, since)
        await start(store, session)
        assert await knows(store, session, since)
        assert await store.revoke_all(session.user_id) == 1
        assert await client.hgetall(old) == {field.encode(): ends.encode()}
        assert 0 < await client.pttl(old) <= IDLE * 1000
    finally:
        await client.aclose()


async def test_the_slot_watch_sees_a_key_a_script_names_beyond_its_slot(
    cluster_redis: ClusterRedis,
) -> None:
    """What the cluster backend relies on: a script may reach an undeclared key of another
    slot on its own node (the cluster lets it through), and the watch reports both slots."""
    client = connect_redis(cluster_redis.topology)
    assert isinstance(client, RedisCluster)
    declared = f"{{{uuid.uuid4()}}}:declared"
    slot = key_slot(declared.encode())
    try:
        await client.initialize()
        node = client.get_node_from_key(declared)
        other = next(
            key
            for key in (f"other:{n}" for n in range(10_000))
            if client.get_node_from_key(key) == node and key_slot(key.encode()) != slot
        )
        async with SlotWatch([node.port for node in cluster_redis.nodes]) as watch:
            batcher = batcher_for(client)
            script = batcher.script("return redis.call('SET', ARGV[1], 1)")
            assert await batcher.run(script, keys=[declared], args=[other]) == b"OK"
            calls = await watch.script_calls()
        ran = calls[-1]  # after an EVALSHA this node answered NOSCRIPT to
        assert ran.touched == [declared.encode(), other.encode()]
        assert ran.slots() == {slot, key_slot(other.encode())}
    finally:
        await client.aclose()


async def test_redis_that_does_not_answer_is_dependency_unavailable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    store = RedisSessionStore(CommandBatcher(client))
    session = new_session(WallClock())
    user, sid, now = session.user_id, session.session_id, datetime.now(UTC)
    operations = (
        store.create(
            session,
            refresh_hash=hash_of("t0"),
            idle_seconds=IDLE,
            max_sessions=MOST,
            devices=MEMORY,
        ),
        store.knows_device(user, ip_address="203.0.113.7", user_agent=None, since=now),
        store.touch(user, sid, now=now, idle_seconds=IDLE),
        store.touch(user, sid, now=now, idle_seconds=IDLE, count_in=LIMITS),
        store.rotate(
            user, sid, presented_hash="a", new_hash="b", now=now, grace_seconds=1, idle_seconds=1
        ),
        store.list(user, now=now),
        store.revoke(user, sid),
        store.revoke_all(user),
        store.set_role(user, Role.ADMIN),
    )
    try:
        for operation in operations:
            with pytest.raises(DependencyUnavailable):
                await operation
    finally:
        await client.aclose()
