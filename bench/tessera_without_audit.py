"""Tessera with its audit trail replaced by one that records nothing: the account_security
benchmark's baseline for what the audit write costs.

`create()` does what `tessera.main.asgi.create` does (settings from the environment,
logging, the container, the app, the collector tuned the same way), passing
`make_container` one override: a `AuditTrail` whose `record` does nothing. Every other
adapter, middleware and setting is Tessera's own. Served by granian as a factory
(`bench.tessera_without_audit:create`); bench code only, never shipped.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Mapping

from dishka import Provider, Scope, provide
from litestar import Litestar

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction, DetailValue
from tessera.main.ioc import make_container
from tessera.main.logs import configure_logging
from tessera.main.settings import load_settings, require_object_store
from tessera.main.web import create_app


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
    settings = load_settings()
    require_object_store(settings)
    configure_logging(settings.log_level)
    app = create_app(make_container(settings, NoAuditProvider()), settings)
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)  # as tessera.main.asgi.create
    return app
