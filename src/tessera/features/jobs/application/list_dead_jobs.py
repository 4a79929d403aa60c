from __future__ import annotations

from tessera.features.jobs.application.ports import JobStore
from tessera.features.jobs.domain.job import DeadJob


class ListDeadJobs:
    """The dead-letter list, oldest failure first, for `tessera tasks dead`."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def execute(self, *, limit: int = 100) -> list[DeadJob]:
        return await self._store.dead(limit=limit)
