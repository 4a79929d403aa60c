from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import msgspec

from tessera.features.audit.application.ports import AuditLog
from tessera.features.audit.domain.event import AuditEvent, AuditFilter, DetailValue
from tessera.shared.application.tenant_access import TenantNotFound, widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden, InvalidInput
from tessera.shared.domain.pagination import Page, PageRequest

SORTABLE = ("occurred_at",)


class NotAnAuditor(Forbidden):
    default_message = "Only administrators and tenant administrators can read the audit log."


class AuditEventView(msgspec.Struct, frozen=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    actor_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: uuid.UUID
    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, DetailValue]
    occurred_at: datetime

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventView:
        return cls(
            id=event.id,
            tenant_id=event.tenant_id,
            actor_id=event.actor_id,
            action=event.action.value,
            target_type=event.target_type,
            target_id=event.target_id,
            ip_address=event.ip_address,
            user_agent=event.user_agent,
            request_id=event.request_id,
            details=dict(event.details),
            occurred_at=event.occurred_at,
        )


class ListAuditEvents:
    """One page of the audit log, newest first.

    Rules:
    - `admin`: every tenant, or the one `tenant_id` names (the audited cross-tenant path);
    - `tenant_admin`: its own tenant only; naming another is 404, as for any tenant
      out of reach;
    - `user`: 403;
    - `since` is inclusive, `until` exclusive, and `since` after `until` is a 400.
    """

    def __init__(self, log: AuditLog, scope: TenantScope) -> None:
        self._log, self._scope = log, scope

    async def execute(
        self, caller: Principal, where: AuditFilter, page: PageRequest
    ) -> Page[AuditEventView]:
        if caller.role is Role.ADMIN:
            widen_for_admin(self._scope, caller)
        elif caller.role is Role.TENANT_ADMIN:
            if where.tenant_id is not None and where.tenant_id != caller.tenant_id:
                raise TenantNotFound(field="tenant_id")
            where = replace(where, tenant_id=caller.tenant_id)
        else:
            raise NotAnAuditor()
        if where.since is not None and where.until is not None and where.since > where.until:
            raise InvalidInput("since must not be after until.", field="since")
        found = await self._log.list(where, page)
        views = [AuditEventView.of(event) for event in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
