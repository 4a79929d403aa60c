"""`JobQueue` on taskiq: Redis streams in production, the in-process broker when embedded."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from redis.exceptions import RedisClusterException, RedisError
from taskiq import AsyncBroker
from taskiq.exceptions import SendTaskError

from tessera.features.jobs.adapters.taskiq_tasks import RUN_JOB
from tessera.features.jobs.domain.job import Job
from tessera.features.jobs.domain.routing import QUEUES
from tessera.shared.adapters.redis_client import RedisClient
from tessera.shared.domain.errors import DependencyUnavailable


async def _kick(broker: AsyncBroker, job: Job, stream: str) -> None:
    task = broker.find_task(RUN_JOB)
    if task is None:
        raise RuntimeError(f"{RUN_JOB} is not registered on the broker")
    try:
        kicker = task.kicker().with_task_id(job.job_id).with_labels(queue_name=stream)
        await kicker.kiq(msgspec.to_builtins(job))
    except (SendTaskError, RedisError, OSError) as error:
        raise DependencyUnavailable("The task queue is unavailable.") from error


class RedisStreamJobQueue:
    """One Redis stream per queue; depth is what waits plus what is delivered but unacked."""

    def __init__(
        self, broker: AsyncBroker, client: RedisClient, stream: Callable[[str], str]
    ) -> None:
        self._broker = broker
        self._redis = client
        self._stream = stream

    async def enqueue(self, job: Job, *, queue: str) -> None:
        await _kick(self._broker, job, self._stream(queue))

    async def depths(self) -> dict[str, int]:
        try:
            return {queue: await self._depth(self._stream(queue)) for queue in QUEUES}
        except (RedisError, RedisClusterException, OSError) as error:  # cluster: no node
            raise DependencyUnavailable("The task queue is unavailable.") from error

    async def _depth(self, stream: str) -> int:
        if not await self._redis.exists(stream):
            return 0
        groups = await self._redis.xinfo_groups(stream)
        if not groups:
            return int(await self._redis.xlen(stream))
        return sum(int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups)


class InProcessJobQueue:
    """Embedded mode: the in-process broker runs each job as a task of this event loop."""

    def __init__(self, broker: AsyncBroker) -> None:
        self._broker = broker

    async def enqueue(self, job: Job, *, queue: str) -> None:
        await _kick(self._broker, job, queue)

    async def depths(self) -> dict[str, int]:
        running = len(getattr(self._broker, "_running_tasks", ()))
        return dict.fromkeys(QUEUES, 0) | {"in_process": running}
