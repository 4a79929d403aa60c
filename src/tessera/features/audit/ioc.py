from __future__ import annotations

from dishka import Provider, Scope, provide
from dishka.entities.marker import HasContext

from tessera.features.audit.adapters.sql_audit import SqlAuditLog, SqlAuditTrail
from tessera.features.audit.application.list_audit_events import ListAuditEvents
from tessera.features.audit.application.ports import AuditLog, AuditTrail, RequestOrigin
from tessera.features.audit.application.prune_audit_events import (
    AuditRetention,
    PruneAuditEvents,
)
from tessera.main.settings import Settings
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.context import request_id_var
from tessera.shared.http.di import ConnectionScope
from tessera.shared.http.input_guard import header_text

MAX_USER_AGENT = 512


class AuditProvider(Provider):
    """The audit log on the request's session; the origin of its rows from the HTTP
    request, when there is one."""

    scope = Scope.REQUEST

    trail = provide(SqlAuditTrail, provides=AuditTrail)
    log = provide(SqlAuditLog, provides=AuditLog)
    list_events = provide(ListAuditEvents)
    prune = provide(PruneAuditEvents)

    @provide
    def no_origin(self) -> RequestOrigin:
        """A worker's job or a CLI command: no address, user agent or request id."""
        return RequestOrigin()

    @provide(when=HasContext(ConnectionScope))
    def http_origin(self, connection: ConnectionScope, ips: ClientIpResolver) -> RequestOrigin:
        """The client's address as the rate limits see it (`TRUSTED_PROXIES`), its user
        agent made fit to store, and the id the edge gave the request."""
        client = connection.get("client")
        forwarded: str | None = None
        agent: str | None = None
        for name, value in connection.get("headers", ()):
            if name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
            elif name == b"user-agent":
                agent = header_text(value.decode("latin-1"))
        return RequestOrigin(
            ip_address=ips.resolve(client[0] if client else None, forwarded),
            user_agent=agent[:MAX_USER_AGENT] if agent else None,
            request_id=request_id_var.get(),
        )

    @provide(scope=Scope.APP)
    def retention(self, settings: Settings) -> AuditRetention:
        return AuditRetention(days=settings.audit_retention_days)
