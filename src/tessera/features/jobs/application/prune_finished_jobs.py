from __future__ import annotations

from datetime import timedelta

from tessera.features.jobs.application.ports import JobStore
from tessera.shared.application.ports import Clock, UnitOfWork


class PruneFinishedJobs:
    """Forgets jobs that finished more than `keep` ago; dead jobs stay until replayed."""

    def __init__(
        self, store: JobStore, unit_of_work: UnitOfWork, clock: Clock, *, keep: timedelta
    ) -> None:
        self._store = store
        self._uow = unit_of_work
        self._clock = clock
        self._keep = keep

    async def execute(self) -> int:
        pruned = await self._store.prune_done(before=self._clock.now() - self._keep)
        await self._uow.commit()
        return pruned
