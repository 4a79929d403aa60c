"""`RateLimiter` over real Redis: exact limits under concurrency, from one or several clients.

Two `RedisCache`s with their own connection pools stand for two API processes: the count is
shared through Redis alone, so together they must let exactly the limit through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.application.rate_limits import RateLimitDecision, RateLimiter, RateLimitGroup
from tests import services

pytestmark = pytest.mark.redis

API = RateLimitGroup("api", limit=100)


@pytest.fixture
async def clients() -> AsyncIterator[tuple[Redis, Redis]]:
    await services.check_redis()
    first, second = connect_redis(services.TEST_REDIS_URL), connect_redis(services.TEST_REDIS_URL)
    yield first, second
    for client in (first, second):
        await client.aclose(close_connection_pool=True)


def allowed(decisions: list[RateLimitDecision]) -> int:
    return sum(decision.allowed for decision in decisions)


async def test_two_hundred_concurrent_hits_let_exactly_one_hundred_through(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    limiter = RateLimiter(
        RedisCache(CommandBatcher(clients[0]), prefix=redis_prefix), SystemClock()
    )
    decisions = await asyncio.gather(*(limiter.hit(API, "user-1") for _ in range(200)))
    assert allowed(decisions) == 100
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(100))


async def test_two_processes_sharing_redis_let_exactly_the_limit_through_together(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    limiters = [
        RateLimiter(RedisCache(CommandBatcher(c), prefix=redis_prefix), SystemClock())
        for c in clients
    ]
    decisions: list[RateLimitDecision] = []
    for _ in range(20):  # rounds of ten concurrent hits, five through each process
        decisions += await asyncio.gather(*(limiters[i % 2].hit(API, "user-1") for i in range(10)))
    assert allowed(decisions) == 100
    assert allowed(decisions[0::2]) == allowed(decisions[1::2]) == 50
    assert not any(decision.allowed for decision in decisions[100:])


async def test_the_counter_key_is_prefixed_and_expires_within_the_window(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    limiter = RateLimiter(
        RedisCache(CommandBatcher(clients[0]), prefix=redis_prefix), SystemClock()
    )
    decision = await limiter.hit(RateLimitGroup("auth", limit=10), "203.0.113.9")
    key = f"{redis_prefix}ratelimit:auth:203.0.113.9"
    assert await clients[0].get(key) == b"1"
    assert 59_000 < await clients[0].pttl(key) <= 60_000
    assert decision.reset_after_seconds == 60
    assert (decision.allowed, decision.remaining) == (True, 9)
