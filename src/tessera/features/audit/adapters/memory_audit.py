"""The audit log in a list: complete for one process (tests, tools)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

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


class InMemoryAuditLog:
    """`AuditTrail` and `AuditLog` with the SQL adapters' semantics, but no transaction:
    a row is there as soon as it is recorded (no row-level security either: the use
    cases' rules are the wall)."""

    def __init__(self, clock: Clock, origin: RequestOrigin | None = None) -> None:
        self._clock = clock
        self.origin = origin or RequestOrigin()
        self.events: list[AuditEvent] = []

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
        self.events.append(
            AuditEvent(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                occurred_at=self._clock.now(),
                ip_address=self.origin.ip_address,
                user_agent=self.origin.user_agent,
                request_id=self.origin.request_id,
                details=checked_details(details),
            )
        )

    async def list(self, where: AuditFilter, page: PageRequest) -> Page[AuditEvent]:
        found = [event for event in self.events if _matches(event, where)]
        found.sort(key=lambda e: (e.occurred_at, e.id.bytes), reverse=page.order != "asc")
        chosen = found[page.offset : page.offset + page.limit]
        return Page(items=chosen, total_items=len(found), request=page)

    async def prune(self, before: datetime) -> int:
        kept = [event for event in self.events if event.occurred_at >= before]
        pruned = len(self.events) - len(kept)
        self.events[:] = kept
        return pruned


def _matches(event: AuditEvent, where: AuditFilter) -> bool:
    return (
        (where.tenant_id is None or event.tenant_id == where.tenant_id)
        and (where.action is None or event.action is where.action)
        and (where.actor_id is None or event.actor_id == where.actor_id)
        and (where.target_id is None or event.target_id == where.target_id)
        and (where.since is None or event.occurred_at >= where.since)
        and (where.until is None or event.occurred_at < where.until)
    )
