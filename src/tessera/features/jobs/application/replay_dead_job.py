from __future__ import annotations

from tessera.features.jobs.application.ports import JobQueue, JobStore
from tessera.features.jobs.domain.job import Job
from tessera.features.jobs.domain.routing import JobRouting
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.errors import DependencyUnavailable, NotFound


class NoSuchDeadJob(NotFound):
    default_message = "There is no dead job with that id."


class ReplayDeadJob:
    """Gives a dead job a fresh set of attempts and hands it to the queue.

    Rules: only dead jobs can be replayed; the job is pending (and handed out) once this
    commits; if the queue refuses it now, it is released for the next sweep.
    """

    def __init__(
        self,
        store: JobStore,
        unit_of_work: UnitOfWork,
        queue: JobQueue,
        routing: JobRouting,
        clock: Clock,
    ) -> None:
        self._store = store
        self._uow = unit_of_work
        self._queue = queue
        self._routing = routing
        self._clock = clock

    async def execute(self, job_id: str) -> Job:
        job = await self._store.revive(job_id, now=self._clock.now())
        if job is None:
            raise NoSuchDeadJob(details={"job_id": job_id})
        await self._uow.commit()
        try:
            await self._queue.enqueue(job, queue=self._routing.route(job.type).queue)
        except DependencyUnavailable:
            await self._store.release(job.job_id)
            await self._uow.commit()
        return job
