"""A Sentinel failover, ridden out in one process without a restart.

The primary is killed (SIGKILL, as a crashed machine); the sentinels hold it down after
`DOWN_AFTER_MS` and promote the replica. Meanwhile every cache, rate-limit, pub/sub and
queue call either succeeds or answers `DependencyUnavailable` (a 503 over HTTP), never
another error; afterwards they all succeed again, on the new primary, with the clients made
before the failover: every new connection asks the sentinels where the primary is.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tessera.features.jobs.adapters.resilient_broker import stream_broker
from tessera.features.jobs.adapters.taskiq_queue import RedisStreamJobQueue
from tessera.features.jobs.adapters.taskiq_tasks import RUN_JOB
from tessera.features.jobs.domain.job import Job
from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.adapters.redis_pubsub import RedisPubSub
from tessera.shared.application.pubsub import Subscription
from tessera.shared.application.rate_limits import RateLimiter, RateLimitGroup
from tessera.shared.domain.errors import DependencyUnavailable
from tests.messages import acked
from tests.redis_topologies import SentinelRedis, started

pytestmark = pytest.mark.slow

PREFIX = "failover:"
STREAM = f"{PREFIX}queue:email_queue"
API = RateLimitGroup("api", limit=10)


@pytest.fixture
def sentinel() -> Iterator[SentinelRedis]:
    """A Sentinel setup of this test's own: it loses its primary."""
    with started(SentinelRedis()) as topology:
        yield topology


def a_job() -> Job:
    return Job(str(uuid.uuid4()), "email.send", {}, 0, datetime.now(UTC).isoformat())


async def outcome(call: Awaitable[Any]) -> str:
    """`ok` or `unavailable`; any other error fails the test."""
    try:
        await call
    except DependencyUnavailable:
        return "unavailable"
    return "ok"


async def next_message(subscription: Subscription, wanted: tuple[str, bytes]) -> None:
    """Until `wanted` arrives (messages published during the failover may come first)."""
    async for item in subscription:
        if item == wanted:
            return


async def test_a_failover_answers_503_or_succeeds_and_everything_works_after_it(
    sentinel: SentinelRedis,
) -> None:
    topology = sentinel.topology
    client = connect_redis(topology)
    batched = connect_redis(topology, socket_timeout=None)
    cache = RedisCache(batcher_for(batched), prefix=PREFIX)
    limiter = RateLimiter(cache, SystemClock())
    pubsub = RedisPubSub(client, prefix=PREFIX, max_backoff=0.5)
    sender, worker = (
        stream_broker(
            topology, queue_name=STREAM, consumer_group_name="workers", redelivery_seconds=60
        )
        for _ in range(2)
    )
    sender.register_task(lambda job: None, task_name=RUN_JOB)
    queue = RedisStreamJobQueue(sender, client, lambda _: STREAM)
    received: list[str] = []
    read = asyncio.Event()

    async def work() -> None:
        """A worker's receiver: it reads the stream through the whole failover."""
        async for message in worker.listen():
            received.append(json.loads(message.data)["task_id"])
            read.set()
            await acked(message)

    async def every_call(n: int) -> list[str]:
        return [
            await outcome(cache.set(f"k{n}", b"v", ttl_seconds=60)),
            await outcome(cache.get(f"k{n}")),
            await outcome(limiter.hit(API, f"caller-{n}")),
            await outcome(pubsub.publish("news", b"during")),
            await outcome(queue.enqueue(a_job(), queue="email_queue")),
        ]

    for broker in (sender, worker):
        await broker.startup()
    reading = asyncio.create_task(work())
    try:
        async with pubsub.subscribe("news") as news:
            assert await every_call(0) == ["ok"] * 5

            sentinel.kill_primary()
            promoted = asyncio.create_task(asyncio.to_thread(sentinel.wait_for_failover))
            during: Counter[str] = Counter()
            n = 0
            while not promoted.done():
                n += 1
                during.update(await every_call(n))
                await asyncio.sleep(0.05)
            await promoted
            assert during["unavailable"] > 0, "the primary was away for a while"

            async with asyncio.timeout(10):  # the clients find the new primary by themselves
                while await every_call(n) != ["ok"] * 5:
                    n += 1
                    await asyncio.sleep(0.1)

            await cache.set("after", b"1", ttl_seconds=60)
            assert await cache.get("after") == b"1"
            decisions = [await limiter.hit(API, "after") for _ in range(3)]
            assert [d.remaining for d in decisions] == [9, 8, 7]
            async with asyncio.timeout(10):  # resubscribed on the new primary
                listening = asyncio.create_task(next_message(news, ("news", b"after")))
                while not listening.done():
                    await pubsub.publish("news", b"after")
                    await asyncio.wait([listening], timeout=0.2)
            job = a_job()
            await queue.enqueue(job, queue="email_queue")
            async with asyncio.timeout(10):  # the worker reads the new primary's stream
                while job.job_id not in received:
                    read.clear()
                    await read.wait()
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await pubsub.aclose()
        for broker in (sender, worker):
            await broker.shutdown()
        for each in (client, batched):
            await each.aclose()
