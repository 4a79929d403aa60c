"""`CommandBatcher` against real Redis: one pipeline per event-loop turn, and every reply,
error and cancellation reaching exactly the caller it belongs to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.adapters.redis_client import connect_redis
from tests import services

pytestmark = pytest.mark.redis


class CountingRedis(Redis):
    """A client that counts the pipelines and single commands it is asked for."""

    pipelines = 0
    singles = 0

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        self.pipelines += 1
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.singles += 1
        return await super().execute_command(*args, **options)


@pytest.fixture
async def client() -> AsyncIterator[CountingRedis]:
    await services.check_redis()
    pool = connect_redis(services.TEST_REDIS_URL).connection_pool
    client = CountingRedis(connection_pool=pool)
    yield client
    await client.aclose(close_connection_pool=True)


async def test_commands_of_one_turn_go_in_one_pipeline_and_each_caller_gets_its_reply(
    client: CountingRedis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    keys = [f"{redis_prefix}k{n}" for n in range(50)]
    await asyncio.gather(*(batcher.execute("SET", key, f"v{n}") for n, key in enumerate(keys)))
    values = await asyncio.gather(*(batcher.execute("GET", key) for key in keys))
    assert values == [f"v{n}".encode() for n in range(50)]
    assert (client.pipelines, client.singles) == (2, 0)


async def test_a_lone_command_is_sent_on_its_own(client: CountingRedis, redis_prefix: str) -> None:
    batcher = CommandBatcher(client)
    assert await batcher.execute("INCR", f"{redis_prefix}n") == 1
    assert (client.pipelines, client.singles) == (0, 1)


async def test_a_large_turn_is_split_into_several_pipelines(
    client: CountingRedis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client, max_batch=8)
    counts = await asyncio.gather(*(batcher.execute("INCR", f"{redis_prefix}n") for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))
    assert client.pipelines == 3


async def test_a_failing_command_fails_only_its_caller(
    client: CountingRedis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    await client.set(f"{redis_prefix}text", "not a number")
    results = await asyncio.gather(
        batcher.execute("INCR", f"{redis_prefix}n"),
        batcher.execute("INCR", f"{redis_prefix}text"),
        batcher.execute("INCR", f"{redis_prefix}n"),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert results[2] == 2
    assert isinstance(results[1], ResponseError)
    alone = batcher.execute("INCR", f"{redis_prefix}text")
    with pytest.raises(ResponseError):
        await alone


async def test_a_script_unknown_to_redis_is_loaded_and_run_for_every_caller(
    client: CountingRedis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    script = batcher.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await client.script_flush()
    results = await asyncio.gather(
        *(script(keys=[f"{redis_prefix}n"], args=[step]) for step in (1, 10, 100))
    )
    assert max(results) == 111
    assert len(set(results)) == 3
    assert int(await client.get(f"{redis_prefix}n")) == 111


async def test_a_cancelled_caller_does_not_disturb_the_rest_of_its_batch(
    client: CountingRedis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    first = asyncio.ensure_future(batcher.execute("INCR", f"{redis_prefix}n"))
    second = asyncio.ensure_future(batcher.execute("INCR", f"{redis_prefix}n"))
    await asyncio.sleep(0)  # both are queued in this turn's batch
    first.cancel()
    assert await second in (1, 2)
    assert first.cancelled()
    await asyncio.sleep(0.05)
    assert int(await client.get(f"{redis_prefix}n")) == 2  # queued commands are still sent


async def test_an_unreachable_redis_fails_every_caller_with_its_own_error() -> None:
    client = connect_redis("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    batcher = CommandBatcher(client)
    try:
        results = await asyncio.gather(
            *(batcher.execute("GET", f"k{n}") for n in range(3)), return_exceptions=True
        )
    finally:
        await client.aclose(close_connection_pool=True)
    assert all(isinstance(result, RedisConnectionError) for result in results)
    assert len({id(result) for result in results}) == 3
