"""The `Cache` contract, run against the in-memory adapter and against real Redis: one
server, a Sentinel's primary and a Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.adapters.redis_batching import CommandBatcher, batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.application.ports import Cache
from tessera.shared.domain.errors import DependencyUnavailable
from tests import services
from tests.redis_topologies import MODES, redis_for


@pytest.fixture(params=["memory", *MODES])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield InMemoryCache()
        return
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology)
        yield RedisCache(batcher_for(client), prefix=prefix)
        await client.aclose()


async def test_a_missing_key_reads_as_none(cache: Cache) -> None:
    assert await cache.get("cache:user:nobody") is None


async def test_a_value_reads_back_until_it_expires(cache: Cache) -> None:
    await cache.set("cache:user:1", b'{"id":1}', ttl_seconds=0.3)
    assert await cache.get("cache:user:1") == b'{"id":1}'
    await asyncio.sleep(0.45)
    assert await cache.get("cache:user:1") is None


async def test_set_replaces_the_value_and_its_expiry(cache: Cache) -> None:
    await cache.set("k", b"old", ttl_seconds=0.2)
    await cache.set("k", b"new", ttl_seconds=60)
    await asyncio.sleep(0.3)
    assert await cache.get("k") == b"new"


async def test_delete_counts_only_keys_that_existed(cache: Cache) -> None:
    """Ten keys: on a cluster they lie in several hash slots, on several nodes."""
    keys = [f"k{n}" for n in range(10)]
    for key in keys:
        await cache.set(key, b"1", ttl_seconds=60)
    assert await cache.delete(*keys, "never-there") == 10
    assert [await cache.get(key) for key in keys] == [None] * 10
    assert await cache.delete() == 0


async def test_increment_starts_a_window_that_later_increments_do_not_extend(cache: Cache) -> None:
    first = await cache.increment("ratelimit:auth:1.2.3.4", window_seconds=0.5)
    assert first.value == 1
    assert 0.3 < first.resets_in <= 0.5
    await asyncio.sleep(0.2)
    second = await cache.increment("ratelimit:auth:1.2.3.4", window_seconds=0.5)
    assert second.value == 2
    assert second.resets_in < first.resets_in
    await asyncio.sleep(0.45)
    third = await cache.increment("ratelimit:auth:1.2.3.4", window_seconds=0.5)
    assert third.value == 1, "a new window starts after the old one expired"


async def test_increment_by_an_amount_and_read_the_counter(cache: Cache) -> None:
    await cache.increment("n", window_seconds=60, amount=5)
    counter = await cache.increment("n", window_seconds=60, amount=3)
    assert counter.value == 8
    assert await cache.get("n") == b"8"


async def test_concurrent_increments_each_see_a_distinct_value(cache: Cache) -> None:
    counters = await asyncio.gather(
        *(cache.increment("ratelimit:api:u1", window_seconds=60) for _ in range(200))
    )
    assert sorted(c.value for c in counters) == list(range(1, 201))


async def test_ping_answers(cache: Cache) -> None:
    await cache.ping()


async def test_redis_that_does_not_answer_is_dependency_unavailable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    cache = RedisCache(CommandBatcher(client))
    try:
        for operation in (cache.ping(), cache.get("k"), cache.increment("k", window_seconds=1)):
            with pytest.raises(DependencyUnavailable):
                await operation
    finally:
        await client.aclose()


async def test_redis_keys_carry_the_deployment_prefix(redis_prefix: str) -> None:
    client = Redis.from_url(services.TEST_REDIS_URL)
    try:
        await RedisCache(CommandBatcher(client), prefix=redis_prefix).set(
            "cache:user:1", b"x", ttl_seconds=60
        )
        assert await client.get(f"{redis_prefix}cache:user:1") == b"x"
        assert 0 < await client.ttl(f"{redis_prefix}cache:user:1") <= 60
    finally:
        await client.aclose()
