from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tessera.features.audit.application.ports import AuditLog
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope


@dataclass(frozen=True, slots=True)
class AuditRetention:
    days: int


class PruneAuditEvents:
    """Housekeeping: rows older than `AUDIT_RETENTION_DAYS` are deleted, in every tenant.
    The only way a row ever leaves the log (on PostgreSQL through the owner's
    `prune_audit_events` function: the application role cannot delete)."""

    def __init__(
        self,
        log: AuditLog,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        retention: AuditRetention,
    ) -> None:
        self._log, self._uow, self._clock = log, unit_of_work, clock
        self._scope, self._retention = scope, retention

    async def execute(self) -> int:
        self._scope.across_tenants("housekeeping: audit log retention")
        pruned = await self._log.prune(self._clock.now() - timedelta(days=self._retention.days))
        await self._uow.commit()
        return pruned
