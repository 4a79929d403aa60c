from __future__ import annotations

from tessera.features.jobs.application.ports import JobStore
from tessera.features.jobs.domain.job import DeadJob
from tessera.features.jobs.domain.redaction import shown


class ListDeadJobs:
    """The dead-letter list, oldest failure first, for `tessera tasks dead`: each job as an
    operator may see it, one-time links, tokens and other secrets `[REDACTED]`
    (`redaction.shown`); the store keeps them whole for `ReplayDeadJob`."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def execute(self, *, limit: int = 100) -> list[DeadJob]:
        return [shown(dead) for dead in await self._store.dead(limit=limit)]
