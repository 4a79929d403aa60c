from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

import msgspec

from tessera.features.jobs.application.ports import JobHandler, JobMetrics, JobStore, Outcome
from tessera.features.jobs.domain.job import Job
from tessera.features.jobs.domain.routing import JobRouting
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.errors import InvalidInput

logger = logging.getLogger("tessera.jobs")


def job_fields(job: Job) -> dict[str, object]:
    """The seed's job fields, for log lines (`data` is left out: it may hold addresses)."""
    return {
        "job_id": job.job_id,
        "type": job.type,
        "attempts": job.attempts,
        "created_at": job.created_at,
    }


class RunJob:
    """Runs one delivered job, as far as the job store allows.

    Rules:
    - deliveries repeat, so a job that is done, dead or running elsewhere is skipped;
    - success marks the job done in the same transaction as the handler's own writes;
    - failure rolls the handler's writes back, then schedules the next attempt by the job
      type's retry policy, or buries the job in the dead-letter list when none is left;
    - invalid input (`InvalidInput`, e.g. an unknown email template) is buried at once;
    - a job type without a handler (an event nobody subscribes to yet) is simply done.
    """

    def __init__(
        self,
        store: JobStore,
        unit_of_work: UnitOfWork,
        routing: JobRouting,
        handlers: Mapping[str, JobHandler],
        clock: Clock,
        metrics: JobMetrics,
        *,
        lease: timedelta,
        scope: TenantScope | None = None,
    ) -> None:
        self._store = store
        self._uow = unit_of_work
        self._routing = routing
        self._handlers = handlers
        self._clock = clock
        self._metrics = metrics
        self._lease = lease
        self._scope = scope

    async def execute(self, job: Job) -> Outcome:
        started = time.perf_counter()
        attempts = await self._store.claim(job.job_id, now=self._clock.now(), lease=self._lease)
        await self._uow.commit()
        if attempts is None:
            logger.info("job skipped: done, dead or running elsewhere", extra=job_fields(job))
            outcome: Outcome = "skipped"
        else:
            outcome = await self._run(msgspec.structs.replace(job, attempts=attempts))
        self._metrics.observe(job.type, outcome, time.perf_counter() - started)
        return outcome

    async def _run(self, job: Job) -> Outcome:
        handler = self._handlers.get(job.type)
        if self._scope is not None and job.tenant_id is not None:
            self._scope.enter(uuid.UUID(job.tenant_id))  # the handler's transaction is next
        try:
            if handler is not None:
                await handler.handle(job)
        except Exception as error:  # any failure of the work is retried by policy
            await self._uow.rollback()
            return await self._failed(job, error)
        await self._store.complete(job.job_id, now=self._clock.now())
        await self._uow.commit()
        logger.info("job succeeded", extra=job_fields(job))
        return "succeeded"

    async def _failed(self, job: Job, error: Exception) -> Outcome:
        attempts = job.attempts + 1
        now = self._clock.now()
        reason = f"{type(error).__name__}: {error}"[:2000]
        permanent = isinstance(error, InvalidInput)  # bad input stays bad: no retry
        policy = self._routing.route(job.type).policy
        delay = None if permanent else policy.delay_after(attempts)
        fields = job_fields(job) | {"attempts": attempts, "error": reason}
        if delay is None:
            await self._store.bury(job.job_id, attempts=attempts, now=now, error=reason)
            await self._uow.commit()
            logger.error("job failed for good: moved to the dead-letter list", extra=fields)
            return "dead"
        at = now + timedelta(seconds=delay)
        await self._store.retry_later(job.job_id, attempts=attempts, at=at, error=reason)
        await self._uow.commit()
        logger.warning("job failed: will retry", extra=fields | {"retry_in": round(delay, 2)})
        return "retried"
