"""The audit log on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.audit.adapters.models import AuditEventModel
from tessera.features.audit.application.list_audit_events import SORTABLE
from tessera.features.audit.application.ports import RequestOrigin
from tessera.features.audit.domain.event import (
    AuditAction,
    AuditEvent,
    AuditFilter,
    DetailValue,
    checked_details,
)
from tessera.shared.adapters.paging import Filter, Rows
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


class _AuditEvents(Rows[AuditEventModel]):
    model_type = AuditEventModel


class SqlAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, where: AuditFilter, page: PageRequest) -> Page[AuditEvent]:
        given = {
            "tenant_id": where.tenant_id,
            "action": None if where.action is None else where.action.value,
            "actor_id": where.actor_id,
            "target_id": where.target_id,
            "since": where.since,
            "until": where.until,
        }
        values = {name: value for name, value in given.items() if value is not None}
        rows = _AuditEvents(self._session)
        models, total = await rows.page_of(page, _conditions, values, sortable=SORTABLE)
        return Page(items=[_to_event(m) for m in models], total_items=total, request=page)

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


def _conditions(names: frozenset[str]) -> list[Filter]:
    A = AuditEventModel
    equal = {"tenant_id": A.tenant_id, "action": A.action, "actor_id": A.actor_id}
    equal["target_id"] = A.target_id
    found: list[Filter] = [
        column == bindparam(name) for name, column in equal.items() if name in names
    ]
    if "since" in names:
        found.append(A.occurred_at >= bindparam("since"))
    if "until" in names:
        found.append(A.occurred_at < bindparam("until"))
    return found
