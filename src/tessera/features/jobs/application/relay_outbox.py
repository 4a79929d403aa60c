from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from tessera.features.jobs.application.ports import JobQueue, JobStore
from tessera.features.jobs.domain.routing import JobRouting
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.errors import DependencyUnavailable


class RelayOutbox:
    """Hands due jobs from the outbox to the queue; returns how many it handed over.

    Rules:
    - a job is marked handed-out (and committed) before it is enqueued, and released if
      the queue refuses it, so a crash in between delays it by one lease, never loses it;
    - when the queue is down the relay stops at the first refusal, releases the rest for
      the next sweep, then raises the refusal (`DependencyUnavailable`) for the caller to
      report;
    - given `ids` (the events a request just committed) it looks at those only.
    """

    def __init__(
        self,
        store: JobStore,
        unit_of_work: UnitOfWork,
        queue: JobQueue,
        routing: JobRouting,
        clock: Clock,
        *,
        lease: timedelta,
        batch: int = 100,
    ) -> None:
        self._store = store
        self._uow = unit_of_work
        self._queue = queue
        self._routing = routing
        self._clock = clock
        self._lease = lease
        self._batch = batch

    async def execute(self, ids: Sequence[uuid.UUID] | None = None) -> int:
        jobs = await self._store.take_due(
            now=self._clock.now(), lease=self._lease, limit=self._batch, ids=ids
        )
        await self._uow.commit()
        for handed, job in enumerate(jobs):
            try:
                await self._queue.enqueue(job, queue=self._routing.route(job.type).queue)
            except DependencyUnavailable:
                for waiting in jobs[handed:]:
                    await self._store.release(waiting.job_id)
                await self._uow.commit()
                raise
        return len(jobs)
