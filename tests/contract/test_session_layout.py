"""Sessions an earlier version kept in Redis, moved to the hash-tagged layout, still work.

The earlier layout, as its `RedisSessionStore.create` wrote it: the hash
`session:user:<user_id>:<session_id>` (idle time to live), the index
`session:index:<user_id>` (living as long as the session may) and the sorted set
`session:known-devices:<user_id>` (the device memory). `OldVersion` writes exactly that.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tessera.features.identity.adapters.redis_session_layout import (
    LayoutMove,
    move_to_tagged_layout,
)
from tessera.features.identity.adapters.redis_sessions import RedisSessionStore, SessionKeys
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    RotationOutcome,
    SessionRecord,
    device_fingerprint,
)
from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.domain.caller import Role
from tests import services
from tests.e2e.processes import tessera

IDLE = 3600
MEMORY = DeviceMemory(seconds=30 * 86400, most=50)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // MS


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OldSession:
    user_id: uuid.UUID
    session_id: uuid.UUID
    token: str
    user_agent: str


class OldVersion:
    """Writes sessions as the version before hash tags did."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def hash(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        return f"{self.prefix}session:user:{user_id}:{session_id}"

    def index(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}session:index:{user_id}"

    def known(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}session:known-devices:{user_id}"

    async def sign_in(
        self, user_id: uuid.UUID, *, agent: str = "old-browser", at: datetime | None = None
    ) -> OldSession:
        now = at or datetime.now(UTC)
        session = OldSession(user_id, uuid.uuid4(), f"refresh-{uuid.uuid4().hex}", agent)
        expires = now + timedelta(days=7)
        key = self.hash(user_id, session.session_id)
        await self.client.hset(
            key,
            mapping={
                "user_id": str(user_id),
                "tenant_id": str(uuid.uuid5(uuid.NAMESPACE_OID, str(user_id))),
                "role": Role.USER.value,
                "token": hash_of(session.token),
                "previous_token": "",
                "generation": 0,
                "rotated_at": ms(now),
                "created_at": ms(now),
                "last_seen_at": ms(now),
                "expires_at": ms(expires),
                "ip_address": "203.0.113.7",
                "user_agent": agent,
            },
        )
        await self.client.pexpire(key, IDLE * 1000)
        await self.client.sadd(self.index(user_id), str(session.session_id))
        index_ttl = await self.client.pttl(self.index(user_id))
        if index_ttl < ms(expires) - ms(now):
            await self.client.pexpire(self.index(user_id), ms(expires) - ms(now))
        device = device_fingerprint("203.0.113.7", agent)
        await self.client.zadd(self.known(user_id), {device: ms(now)}, gt=True)
        await self.client.pexpire(self.known(user_id), MEMORY.seconds * 1000)
        return session

    async def keys(self) -> list[bytes]:
        """Every key of the old layout left under the prefix."""
        mine = f"{self.prefix}session:".encode()
        found = [key async for key in self.client.scan_iter(match="*session:*")]
        return [key for key in found if key.startswith(mine) and b"{" not in key]


@dataclass
class World:
    client: Redis
    old: OldVersion
    store: RedisSessionStore
    prefix: str

    async def move(self) -> LayoutMove:
        return await move_to_tagged_layout(self.client, prefix=self.prefix)


@pytest.fixture
async def world(redis_prefix: str) -> AsyncIterator[World]:
    client = Redis.from_url(services.TEST_REDIS_URL)
    batched = connect_redis(services.TEST_REDIS_URL)
    store = RedisSessionStore(CommandBatcher(batched), prefix=redis_prefix)
    yield World(client, OldVersion(client, redis_prefix), store, redis_prefix)
    await client.aclose()
    await batched.aclose(close_connection_pool=True)


async def authenticates(world: World, session: OldSession) -> bool:
    now = datetime.now(UTC)
    found = await world.store.touch(session.user_id, session.session_id, now=now, idle_seconds=IDLE)
    return found is not None and found.caller.user_id == session.user_id


async def test_moved_sessions_authenticate_rotate_and_can_be_revoked(world: World) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first = await world.old.sign_in(alice, agent="laptop")
    second = await world.old.sign_in(alice, agent="phone")
    only = await world.old.sign_in(bob)
    left = await world.client.pttl(world.old.hash(alice, first.session_id))
    assert not await authenticates(world, first), "the old keys are invisible before the move"

    assert await world.move() == LayoutMove(sessions=3, users=2)

    assert await world.old.keys() == []
    names = SessionKeys(world.prefix)
    moved_ttl = await world.client.pttl(f"{names.base(alice)}{first.session_id}")
    assert 0 < moved_ttl <= left, "the session keeps its time to live, not a fresh one"
    assert await world.client.pttl(names.index(alice)) >= moved_ttl
    for session in (first, second, only):
        assert await authenticates(world, session)
    rotation = await world.store.rotate(
        alice,
        first.session_id,
        presented_hash=hash_of(first.token),
        new_hash=hash_of("next"),
        now=datetime.now(UTC),
        grace_seconds=10,
        idle_seconds=IDLE,
    )
    assert rotation.outcome is RotationOutcome.ROTATED
    assert {s.session_id for s in await world.store.list(alice, now=datetime.now(UTC))} == {
        first.session_id,
        second.session_id,
    }
    since = datetime.now(UTC) - timedelta(days=1)
    for agent in ("laptop", "phone"):
        assert await world.store.knows_device(
            alice, ip_address="203.0.113.7", user_agent=agent, since=since
        ), "devices the user signed in from before the move are still known"
    assert await world.store.revoke(alice, second.session_id) is True
    assert not await authenticates(world, second)
    assert await world.store.revoke_all(bob) == 1
    assert not await authenticates(world, only)
    assert await authenticates(world, first)


async def test_a_second_move_finds_nothing_and_changes_nothing(world: World) -> None:
    user = uuid.uuid4()
    session = await world.old.sign_in(user)
    assert await world.move() == LayoutMove(sessions=1, users=1)
    names = SessionKeys(world.prefix)
    before = await world.client.hgetall(f"{names.base(user)}{session.session_id}")

    assert await world.move() == LayoutMove(sessions=0, users=0)

    assert await world.client.hgetall(f"{names.base(user)}{session.session_id}") == before
    assert await authenticates(world, session)


async def test_a_user_with_sessions_in_both_layouts_keeps_them_all(world: World) -> None:
    """A server of the new version signed the user in while an old one still ran."""
    user = uuid.uuid4()
    earlier = datetime.now(UTC) - timedelta(hours=1)
    old = await world.old.sign_in(user, agent="shared", at=earlier)
    elsewhere = await world.old.sign_in(user, agent="old-only", at=earlier)
    now = datetime.now(UTC)
    new = SessionRecord(
        session_id=uuid.uuid4(),
        user_id=user,
        tenant_id=uuid.uuid4(),
        role=Role.USER,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=7),
        ip_address="203.0.113.7",
        user_agent="shared",
        generation=0,
        rotated_at=now,
    )
    await world.store.create(
        new, refresh_hash=hash_of("t"), idle_seconds=IDLE, max_sessions=100, devices=MEMORY
    )

    assert await world.move() == LayoutMove(sessions=2, users=1)

    listed = await world.store.list(user, now=datetime.now(UTC))
    assert {s.session_id for s in listed} == {old.session_id, elsewhere.session_id, new.session_id}
    known = SessionKeys(world.prefix).known(user)
    assert await world.client.zscore(known, device_fingerprint("203.0.113.7", "shared")) == ms(
        now
    ), "a device in both keeps its latest sign-in"
    assert await world.client.zscore(known, device_fingerprint("203.0.113.7", "old-only")) == ms(
        earlier
    )
    assert 0 < await world.client.pttl(known) <= MEMORY.seconds * 1000


async def test_only_this_deployments_keys_move(world: World) -> None:
    """Deployments sharing one Redis by REDIS_KEY_PREFIX: a prefix that reads as a pattern
    matches only itself."""
    neighbour = OldVersion(world.client, f"{world.prefix}ab:")
    theirs = await neighbour.sign_in(uuid.uuid4())
    ours = OldVersion(world.client, f"{world.prefix}a*:")
    mine = await ours.sign_in(uuid.uuid4())

    moved = await move_to_tagged_layout(world.client, prefix=f"{world.prefix}a*:")

    assert moved == LayoutMove(sessions=1, users=1)
    assert await ours.keys() == []
    assert await world.client.exists(neighbour.hash(theirs.user_id, theirs.session_id)) == 1
    tagged = f"{SessionKeys(f'{world.prefix}a*:').base(mine.user_id)}{mine.session_id}"
    assert await world.client.exists(tagged) == 1


@pytest.mark.slow
async def test_tessera_migrate_upgrade_moves_them(world: World, tmp_path: Path) -> None:
    session = await world.old.sign_in(uuid.uuid4())
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": world.prefix,
    }
    first = tessera("migrate", "upgrade", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == (
        "Redis sessions: moved 1 session of 1 user to the hash-tagged key layout"
    )
    again = tessera("migrate", "upgrade", cwd=tmp_path, env=env)
    assert again.stdout.splitlines()[-1] == "Redis sessions: all in the hash-tagged key layout"
    assert await authenticates(world, session)
