from __future__ import annotations

from tessera.features.jobs.application.ports import JobHandler
from tessera.features.jobs.domain.job import Job


class EveryHandler:
    """Several features' handlers of one job type, run one after the other (`user.purged`:
    identity's avatars, then the files feature's files). A failure in any retries the job,
    so every handler runs again: each must be safe to repeat."""

    def __init__(self, *handlers: JobHandler) -> None:
        self._handlers = handlers

    async def handle(self, job: Job) -> None:
        for handler in self._handlers:
            await handler.handle(job)
