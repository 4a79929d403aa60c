"""The audit log on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.audit.adapters.models import AuditEventModel
from tessera.features.audit.application.ports import RequestOrigin
from tessera.features.audit.domain.event import (
    AuditAction,
    AuditEvent,
    AuditFilter,
    DetailValue,
    checked_details,
)
from tessera.shared.application.ports import Clock
from tessera.shared.domain.pagination import Page, PageRequest

_PRUNE = text("SELECT prune_audit_events(:before)")


def _to_event(model: AuditEventModel) -> AuditEvent:
    return AuditEvent(
        id=model.id,
        tenant_id=model.tenant_id,
        actor_id=model.actor_id,
        action=AuditAction(model.action),
        target_type=model.target_type,
        target_id=model.target_id,
        occurred_at=model.occurred_at,
        ip_address=model.ip_address,
        user_agent=model.user_agent,
        request_id=model.request_id,
        details=model.details,
    )


class SqlAuditTrail:
    """`AuditTrail` on the request's session: the row is written with the unit of work's
    other changes at its commit, or never."""

    def __init__(self, session: AsyncSession, clock: Clock, origin: RequestOrigin) -> None:
        self._session, self._clock, self._origin = session, clock, origin

    def record(
        self,
        action: AuditAction,
        *,
        tenant_id: uuid.UUID,
        actor_id: uuid.UUID | None,
        target_type: str,
        target_id: uuid.UUID,
        details: Mapping[str, DetailValue] | None = None,
    ) -> None:
        self._session.add(
            AuditEventModel(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                actor_id=actor_id,
                action=action.value,
                target_type=target_type,
                target_id=target_id,
                ip_address=self._origin.ip_address,
                user_agent=self._origin.user_agent,
                request_id=self._origin.request_id,
                details=checked_details(details),
                occurred_at=self._clock.now(),
            )
        )


class SqlAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, where: AuditFilter, page: PageRequest) -> Page[AuditEvent]:
        A = AuditEventModel
        conditions: list[ColumnElement[bool]] = []
        if where.tenant_id is not None:
            conditions.append(A.tenant_id == where.tenant_id)
        if where.action is not None:
            conditions.append(A.action == where.action.value)
        if where.actor_id is not None:
            conditions.append(A.actor_id == where.actor_id)
        if where.target_id is not None:
            conditions.append(A.target_id == where.target_id)
        if where.since is not None:
            conditions.append(A.occurred_at >= where.since)
        if where.until is not None:
            conditions.append(A.occurred_at < where.until)
        total = await self._session.scalar(select(func.count()).select_from(A).where(*conditions))
        if page.order == "asc":
            ordering = (A.occurred_at.asc(), A.id.asc())
        else:
            ordering = (A.occurred_at.desc(), A.id.desc())
        query = select(A).where(*conditions).order_by(*ordering).offset(page.offset)
        models = (await self._session.execute(query.limit(page.limit))).scalars().all()
        return Page(items=[_to_event(m) for m in models], total_items=total or 0, request=page)

    async def prune(self, before: datetime) -> int:
        """On PostgreSQL through `prune_audit_events` (migration 0010), the owner's
        function: the application role has no DELETE on the table."""
        if self._session.get_bind().dialect.name == "postgresql":
            return int(await self._session.scalar(_PRUNE, {"before": before}) or 0)
        statement = delete(AuditEventModel).where(AuditEventModel.occurred_at < before)
        result = await self._session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
