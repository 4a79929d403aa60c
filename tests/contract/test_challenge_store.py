"""The `ChallengeStore` contract, run against the in-memory adapter and real Redis (one
server, a Sentinel's primary, a Cluster): a challenge is taken once, only under its
purpose, and not after it expired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tessera.features.identity.adapters.challenges import (
    InMemoryChallengeStore,
    RedisChallengeStore,
)
from tessera.features.identity.application.ports import ChallengeStore
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_client import connect_redis
from tests.redis_topologies import MODES, redis_for


@pytest.fixture(params=["memory", *MODES])
async def challenges(request: pytest.FixtureRequest) -> AsyncIterator[ChallengeStore]:
    if request.param == "memory":
        yield InMemoryChallengeStore()
        return
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology)
        yield RedisChallengeStore(batcher_for(client), prefix=prefix)
        await client.aclose()


async def test_a_challenge_is_taken_once(challenges: ChallengeStore) -> None:
    await challenges.put("login", "c1", b"\x00random\xff", ttl_seconds=60)
    assert await challenges.take("login", "c1") == b"\x00random\xff"
    assert await challenges.take("login", "c1") is None
    assert await challenges.take("login", "never-put") is None


async def test_a_challenge_is_bound_to_its_purpose(challenges: ChallengeStore) -> None:
    await challenges.put("register:alice", "c2", b"alice's", ttl_seconds=60)
    assert await challenges.take("register:bob", "c2") is None
    assert await challenges.take("login", "c2") is None
    assert await challenges.take("register:alice", "c2") == b"alice's"


async def test_a_challenge_expires(challenges: ChallengeStore) -> None:
    await challenges.put("login", "c3", b"short", ttl_seconds=1)
    await asyncio.sleep(1.2)
    assert await challenges.take("login", "c3") is None


async def test_of_concurrent_takes_exactly_one_gets_the_challenge(
    challenges: ChallengeStore,
) -> None:
    await challenges.put("login", "c4", b"contested", ttl_seconds=60)
    taken = await asyncio.gather(*(challenges.take("login", "c4") for _ in range(10)))
    assert sorted(taken, key=lambda t: t is None) == [b"contested"] + [None] * 9
