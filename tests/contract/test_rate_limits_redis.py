"""`RateLimiter` over real Redis: exact limits under concurrency, from one or several clients,
on one server, a Sentinel's primary and a Cluster.

Two `RedisCache`s with their own connection pools stand for two API processes: the count is
shared through Redis alone, so together they must let exactly the limit through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import RedisClient, connect_redis
from tessera.shared.adapters.redis_topology import RedisTopology
from tessera.shared.application.rate_limits import RateLimitDecision, RateLimiter, RateLimitGroup
from tests.redis_topologies import MODES, redis_for

pytestmark = pytest.mark.redis

API = RateLimitGroup("api", limit=100)


@pytest.fixture(params=MODES)
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisTopology, str]]:
    async with redis_for(request, request.param) as topology_and_prefix:
        yield topology_and_prefix


@pytest.fixture
def redis_prefix(redis: tuple[RedisTopology, str]) -> str:
    return redis[1]


@pytest.fixture
async def clients(redis: tuple[RedisTopology, str]) -> AsyncIterator[tuple[RedisClient, ...]]:
    both = connect_redis(redis[0]), connect_redis(redis[0])
    yield both
    for client in both:
        await client.aclose()


def allowed(decisions: list[RateLimitDecision]) -> int:
    return sum(decision.allowed for decision in decisions)


async def test_two_hundred_concurrent_hits_let_exactly_one_hundred_through(
    clients: tuple[RedisClient, ...], redis_prefix: str
) -> None:
    limiter = RateLimiter(RedisCache(batcher_for(clients[0]), prefix=redis_prefix), SystemClock())
    decisions = await asyncio.gather(*(limiter.hit(API, "user-1") for _ in range(200)))
    assert allowed(decisions) == 100
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(100))


async def test_two_processes_sharing_redis_let_exactly_the_limit_through_together(
    clients: tuple[RedisClient, ...], redis_prefix: str
) -> None:
    limiters = [
        RateLimiter(RedisCache(batcher_for(c), prefix=redis_prefix), SystemClock()) for c in clients
    ]
    decisions: list[RateLimitDecision] = []
    for _ in range(20):  # rounds of ten concurrent hits, five through each process
        decisions += await asyncio.gather(*(limiters[i % 2].hit(API, "user-1") for i in range(10)))
    assert allowed(decisions) == 100
    assert allowed(decisions[0::2]) == allowed(decisions[1::2]) == 50
    assert not any(decision.allowed for decision in decisions[100:])


async def test_the_counter_key_is_prefixed_and_expires_within_the_window(
    clients: tuple[RedisClient, ...], redis_prefix: str
) -> None:
    limiter = RateLimiter(RedisCache(batcher_for(clients[0]), prefix=redis_prefix), SystemClock())
    decision = await limiter.hit(RateLimitGroup("auth", limit=10), "203.0.113.9")
    key = f"{redis_prefix}ratelimit:auth:203.0.113.9"
    assert await clients[0].get(key) == b"1"
    assert 59_000 < await clients[0].pttl(key) <= 60_000
    assert decision.reset_after_seconds == 60
    assert (decision.allowed, decision.remaining) == (True, 9)
