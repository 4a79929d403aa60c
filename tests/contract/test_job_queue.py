"""`JobQueue` contract: the in-process broker (embedded) and Redis streams (production).

The in-process adapter's broker runs a `tessera.run_job` that only records what it gets;
for Redis the suite reads the stream as a worker's consumer group would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from tessera.features.jobs.adapters.taskiq_queue import InProcessJobQueue, RedisStreamJobQueue
from tessera.features.jobs.adapters.taskiq_tasks import RUN_JOB
from tessera.features.jobs.application.ports import JobQueue
from tessera.features.jobs.domain.job import Job
from tessera.features.jobs.domain.routing import QUEUES
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.domain.errors import DependencyUnavailable
from tests import services

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


@pytest.fixture(params=["in-process", "redis"])
async def queue_and_deliveries(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[JobQueue, Delivered]]:
    delivered = Delivered()
    if request.param == "in-process":
        broker = InMemoryBroker()
        delivered.register(broker)
        await broker.startup()
        yield InProcessJobQueue(broker), delivered
        await broker.shutdown()
        return
    async with services.redis_namespace() as prefix:
        stream = f"{prefix}queue:email_queue"
        broker = RedisStreamBroker(services.TEST_REDIS_URL, queue_name=stream)
        delivered.register(broker)
        client = connect_redis(services.TEST_REDIS_URL)

        async def read_stream() -> None:
            for _, fields in await client.xrange(stream):
                message = json.loads(fields[b"data"])
                assert message["task_name"] == RUN_JOB
                delivered.jobs.extend(message["args"])
            delivered.arrived.set()

        delivered.read_stream = read_stream
        yield RedisStreamJobQueue(broker, client, lambda q: f"{prefix}queue:{q}"), delivered
        await broker.shutdown()
        await client.aclose(close_connection_pool=True)


async def test_an_enqueued_job_reaches_the_worker_with_the_seed_fields(
    queue_and_deliveries: tuple[JobQueue, Delivered],
) -> None:
    queue, delivered = queue_and_deliveries
    await queue.enqueue(JOB, queue="email_queue")
    assert await delivered.wait() == [
        {"job_id": JOB.job_id, "type": "email.send", "data": {"to": "a@b.c"}, "attempts": 0,
         "created_at": JOB.created_at}
    ]  # fmt: skip


async def test_depths_name_every_queue(queue_and_deliveries: tuple[JobQueue, Delivered]) -> None:
    queue, _ = queue_and_deliveries
    depths = await queue.depths()
    assert set(QUEUES) <= set(depths)
    assert all(isinstance(n, int) and n >= 0 for n in depths.values())


async def test_a_redis_that_does_not_answer_is_dependency_unavailable() -> None:
    broker = RedisStreamBroker("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
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
