from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.jobs.adapters.sql_job_store import SqlJobStore
from tessera.features.jobs.application.ports import JobQueue


class QueueProbe:
    """`HealthProbe` "queue": the broker answers; shows the depth of each queue and how
    many jobs wait in the dead-letter list."""

    name = "queue"

    def __init__(self, queue: JobQueue, engine: AsyncEngine) -> None:
        self._queue = queue
        self._engine = engine

    async def check(self) -> dict[str, Any]:
        depths = await self._queue.depths()
        return {"depths": depths, "dead_letters": await self._dead_letters()}

    async def _dead_letters(self) -> int | None:
        """Counted in the database; unknown (None) while the database is down, which is the
        database's failure to report, not the queue's."""
        try:
            async with AsyncSession(self._engine) as session:
                return await SqlJobStore(session).count_dead()
        except (OSError, SQLAlchemyError):
            return None
