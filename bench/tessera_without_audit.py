"""Tessera with its audit trail replaced by one that records nothing: the account_security
benchmark's baseline for what the audit write costs.

`create()` is `tessera.main.asgi.create` with one dishka override: an `AuditTrail` whose
`record` does nothing. Every other
adapter, middleware and setting is Tessera's own. Served by granian as a factory
(`bench.tessera_without_audit:create`); bench code only, never shipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from dishka import Provider, Scope, provide
from litestar import Litestar

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction, DetailValue
from tessera.main.asgi import create_with


class NoAuditTrail:
    """`AuditTrail` that writes no row."""

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
        del action, tenant_id, actor_id, target_type, target_id, details  # nothing recorded


class NoAuditProvider(Provider):
    @provide(scope=Scope.APP, override=True)
    def trail(self) -> AuditTrail:
        return NoAuditTrail()


def create() -> Litestar:
    return create_with(NoAuditProvider())
