"""`JobStore` on the outbox table (PostgreSQL or SQLite).

Two leases keep concurrent processes apart: `dispatched_at` (a relay handed the job to
the queue) and `locked_until` (a worker is running it). Conditional UPDATEs decide every
race, and on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps parallel sweeps off each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.jobs.domain.job import DeadJob, Job
from tessera.shared.adapters.outbox import DEAD, DONE, PENDING, OutboxModel

M = OutboxModel
_JOB_COLUMNS = (M.id, M.event_type, M.payload, M.attempts, M.created_at, M.tenant_id)


def _job(row: Row[Any]) -> Job:
    return Job(
        job_id=str(row.id),
        type=row.event_type,
        data=row.payload,
        attempts=row.attempts,
        created_at=row.created_at.isoformat(),
        tenant_id=None if row.tenant_id is None else str(row.tenant_id),
    )


def _not_running(now: datetime) -> ColumnElement[bool]:
    return or_(M.locked_until.is_(None), M.locked_until < now)


class SqlJobStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def take_due(
        self,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        ids: Sequence[uuid.UUID] | None = None,
    ) -> list[Job]:
        due = and_(
            M.status == PENDING,
            M.available_at <= now,
            or_(M.dispatched_at.is_(None), M.dispatched_at < now - lease),
            _not_running(now),
        )
        if ids is not None:
            due = and_(due, M.id.in_(list(ids)))
        query = select(M.id).where(due).order_by(M.available_at).limit(limit)
        if self._session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates = list((await self._session.execute(query)).scalars())
        if not candidates:
            return []
        taken = update(M).where(M.id.in_(candidates), due).values(dispatched_at=now)
        rows = await self._session.execute(
            taken.returning(*_JOB_COLUMNS), execution_options={"synchronize_session": False}
        )
        return sorted((_job(row) for row in rows), key=lambda job: job.created_at)

    async def release(self, job_id: str) -> None:
        await self._update(job_id, M.status == PENDING, dispatched_at=None)

    async def claim(self, job_id: str, *, now: datetime, lease: timedelta) -> int | None:
        claimed = (
            update(M)
            .where(M.id == uuid.UUID(job_id), M.status == PENDING, _not_running(now))
            .values(locked_until=now + lease)
            .returning(M.attempts)
        )
        result = await self._session.execute(
            claimed, execution_options={"synchronize_session": False}
        )
        return result.scalar_one_or_none()

    async def complete(self, job_id: str, *, now: datetime) -> None:
        """The payload goes with completion: it may hold one-time links, which must not
        outlive their use in the database (dead jobs keep theirs, for replay)."""
        await self._update(
            job_id,
            M.status == PENDING,
            status=DONE,
            processed_at=now,
            locked_until=None,
            payload={},
        )

    async def retry_later(self, job_id: str, *, attempts: int, at: datetime, error: str) -> None:
        await self._update(
            job_id,
            M.status == PENDING,
            attempts=attempts,
            available_at=at,
            dispatched_at=None,
            locked_until=None,
            last_error=error,
        )

    async def bury(self, job_id: str, *, attempts: int, now: datetime, error: str) -> None:
        await self._update(
            job_id,
            M.status == PENDING,
            status=DEAD,
            attempts=attempts,
            processed_at=now,
            locked_until=None,
            last_error=error,
        )

    async def dead(self, *, limit: int) -> list[DeadJob]:
        query = (
            select(*_JOB_COLUMNS, M.processed_at, M.last_error)
            .where(M.status == DEAD)
            .order_by(M.processed_at)
            .limit(limit)
        )
        rows = await self._session.execute(query)
        return [
            DeadJob(
                job=_job(row),
                failed_at=row.processed_at.isoformat(),
                last_error=row.last_error or "",
            )
            for row in rows
        ]

    async def revive(self, job_id: str, *, now: datetime) -> Job | None:
        revived = (
            update(M)
            .where(M.id == _uuid(job_id), M.status == DEAD)
            .values(
                status=PENDING,
                attempts=0,
                available_at=now,
                dispatched_at=now,
                locked_until=None,
                processed_at=None,
            )
            .returning(*_JOB_COLUMNS)
        )
        result = await self._session.execute(
            revived, execution_options={"synchronize_session": False}
        )
        row = result.one_or_none()
        return None if row is None else _job(row)

    async def count_dead(self) -> int:
        query = select(func.count()).select_from(M).where(M.status == DEAD)
        return int((await self._session.execute(query)).scalar_one())

    async def prune_done(self, *, before: datetime) -> int:
        pruned = delete(M).where(M.status == DONE, M.processed_at < before)
        result = await self._session.execute(
            pruned, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _update(self, job_id: str, *conditions: Any, **values: Any) -> None:
        statement = update(M).where(M.id == uuid.UUID(job_id), *conditions).values(**values)
        await self._session.execute(statement, execution_options={"synchronize_session": False})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
