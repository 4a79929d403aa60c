"""`JobQueue` contract: the in-process broker (embedded) and Redis streams (production) on
one server, behind a Sentinel and on a Cluster.

The in-process adapter's broker runs a `tessera.run_job` that only records what it gets;
for Redis the suite reads the stream as a worker's consumer group would: through the
broker's own `listen`, which also hands out again what a consumer left unacknowledged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker

from tessera.features.jobs.adapters.resilient_broker import stream_broker
from tessera.features.jobs.adapters.taskiq_queue import InProcessJobQueue, RedisStreamJobQueue
from tessera.features.jobs.adapters.taskiq_tasks import RUN_JOB
from tessera.features.jobs.application.ports import JobQueue
from tessera.features.jobs.domain.job import Job
from tessera.features.jobs.domain.routing import QUEUES
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.adapters.redis_topology import RedisTopology, SingleTopology
from tessera.shared.domain.errors import DependencyUnavailable
from tests.messages import acked
from tests.redis_topologies import MODES, SentinelRedis, redis_for

JOB = Job(
    "0b9f6c2e-9d0e-4f51-9d39-0cc1d1d0c0de",
    "email.send",
    {"to": "a@b.c"},
    0,
    "2026-01-01T00:00:00+00:00",
)


class Delivered:
    """What a worker of the queue is handed, however the adapter carries it."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.read_stream: Callable[[], Awaitable[None]] | None = None

    def register(self, broker: AsyncBroker) -> None:
        async def run_job(job: dict[str, Any]) -> None:
            self.jobs.append(job)
            self.arrived.set()

        broker.register_task(run_job, task_name=RUN_JOB)

    async def wait(self) -> list[dict[str, Any]]:
        if self.read_stream is not None:
            await self.read_stream()
        await asyncio.wait_for(self.arrived.wait(), 10)
        return self.jobs


def broker_of(topology: RedisTopology, prefix: str, *, redelivery: float = 60) -> AsyncBroker:
    """The production broker of `topology`, reading the email queue's stream."""
    return stream_broker(
        topology,
        queue_name=f"{prefix}queue:email_queue",
        consumer_group_name=f"{prefix}workers",
        redelivery_seconds=redelivery,
    )


async def first_message(broker: AsyncBroker) -> AckableMessage:
    """What a worker's receiver gets first from the broker's `listen`."""
    async with asyncio.timeout(10):
        async for message in broker.listen():
            assert isinstance(message, AckableMessage)
            return message
    raise AssertionError("listen ended")


@pytest.fixture(params=["in-process", *MODES])
async def queue_and_deliveries(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[JobQueue, Delivered]]:
    delivered = Delivered()
    if request.param == "in-process":
        broker: AsyncBroker = InMemoryBroker()
        delivered.register(broker)
        await broker.startup()
        yield InProcessJobQueue(broker), delivered
        await broker.shutdown()
        return
    async with redis_for(request, request.param) as (topology, prefix):
        broker = broker_of(topology, prefix)
        delivered.register(broker)
        await broker.startup()
        client = connect_redis(topology)

        async def read_stream() -> None:
            message = await first_message(broker)
            body = json.loads(message.data)
            assert body["task_name"] == RUN_JOB
            delivered.jobs.extend(body["args"])
            await acked(message)
            delivered.arrived.set()

        delivered.read_stream = read_stream
        yield RedisStreamJobQueue(broker, client, lambda q: f"{prefix}queue:{q}"), delivered
        await broker.shutdown()
        await client.aclose()


async def test_an_enqueued_job_reaches_the_worker_with_the_seed_fields(
    queue_and_deliveries: tuple[JobQueue, Delivered],
) -> None:
    queue, delivered = queue_and_deliveries
    await queue.enqueue(JOB, queue="email_queue")
    assert await delivered.wait() == [
        {
            "job_id": JOB.job_id,
            "type": "email.send",
            "data": {"to": "a@b.c"},
            "attempts": 0,
            "created_at": JOB.created_at,
        }
    ]


async def test_depths_name_every_queue(queue_and_deliveries: tuple[JobQueue, Delivered]) -> None:
    queue, _ = queue_and_deliveries
    depths = await queue.depths()
    assert set(QUEUES) <= set(depths)
    assert all(isinstance(n, int) and n >= 0 for n in depths.values())


@pytest.mark.parametrize("mode", MODES)
async def test_a_message_left_unacknowledged_is_handed_to_another_worker(
    request: pytest.FixtureRequest, mode: str
) -> None:
    """A worker that dies holding a message never acknowledges it: once it has waited the
    redelivery time, the next read of another worker of the group takes it over."""
    async with redis_for(request, mode) as (topology, prefix):
        dying, taking_over = (broker_of(topology, prefix, redelivery=0.3) for _ in range(2))
        client = connect_redis(topology)
        try:
            for broker in (dying, taking_over):
                Delivered().register(broker)
                await broker.startup()
            queue = RedisStreamJobQueue(dying, client, lambda q: f"{prefix}queue:{q}")
            await queue.enqueue(JOB, queue="email_queue")
            held = await first_message(dying)
            again = await first_message(taking_over)
            assert again.data == held.data
            await acked(again)
            pending = await client.xpending(f"{prefix}queue:email_queue", f"{prefix}workers")
            assert pending["pending"] == 0
        finally:
            for broker in (dying, taking_over):
                await broker.shutdown()
            await client.aclose()


async def test_a_redis_that_does_not_answer_is_dependency_unavailable() -> None:
    broker = stream_broker(
        SingleTopology("redis://127.0.0.1:1/0"),
        queue_name="q",
        consumer_group_name="g",
        redelivery_seconds=60,
    )
    Delivered().register(broker)
    client = connect_redis("redis://127.0.0.1:1/0")
    queue = RedisStreamJobQueue(broker, client, lambda q: q)
    try:
        with pytest.raises(DependencyUnavailable):
            await queue.enqueue(JOB, queue="email_queue")
        with pytest.raises(DependencyUnavailable):
            await queue.depths()
    finally:
        await client.aclose(close_connection_pool=True)


async def test_behind_a_sentinel_sends_reuse_the_brokers_connections(
    sentinel_redis: SentinelRedis,
) -> None:
    """taskiq-redis's Sentinel broker would open a client per job: a new connection to the
    primary (and a question to the sentinels) for every send."""
    broker = broker_of(sentinel_redis.topology, "sends:")
    Delivered().register(broker)
    await broker.startup()
    client = connect_redis(sentinel_redis.topology)  # the queue's, for depths: unused here
    queue = RedisStreamJobQueue(broker, client, lambda q: f"sends:{q}")

    def connections() -> int:
        return int(sentinel_redis.primary.client.info("stats")["total_connections_received"])

    try:
        await queue.enqueue(JOB, queue="email_queue")  # the first send may connect
        before = connections()
        for _ in range(20):
            await queue.enqueue(JOB, queue="email_queue")
        assert connections() - before <= 1  # a sentinel's link may reconnect meanwhile
        assert sentinel_redis.primary.client.xlen("sends:email_queue") == 21
    finally:
        sentinel_redis.primary.client.delete("sends:email_queue")
        await broker.shutdown()
        await client.aclose()
