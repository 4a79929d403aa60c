"""`/api/v1/audit-events` (SPEC §3.13): the audit log, for administrators."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from dishka import AsyncContainer
from litestar import Controller, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import QueryParameter

from tessera.features.audit.application.list_audit_events import (
    SORTABLE,
    AuditEventView,
    ListAuditEvents,
    NotAnAuditor,
)
from tessera.features.audit.domain.event import AuditAction, AuditFilter
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, connection_container, inject
from tessera.shared.http.envelope import Paginated, paginated
from tessera.shared.http.moments import moment_parameter, parse_moment
from tessera.shared.http.pagination import page_request


async def auditors_only(
    _connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """401 without a live session, 403 for a plain user, before the query is read, so
    a user learns nothing from validation errors. The use case checks too."""
    container: AsyncContainer = connection_container()
    if (await container.get(Principal)).role is Role.USER:
        raise NotAnAuditor()


class AuditEventsController(Controller):
    path = "/audit-events"
    tags = ("audit log",)
    guards = [auditors_only]  # noqa: RUF012 (Litestar's own attribute)

    @get(
        "/",
        dependencies={"paging": page_request(SORTABLE, default_sort="occurred_at")},
        summary="The audit log, newest first: a tenant admin's own tenant, any tenant for "
        "an admin; filters: tenant_id (admins), action, actor_id, target_id, since, until.",
    )
    @inject
    async def list_events(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        events: FromDishka[ListAuditEvents],
        tenant_id: Annotated[
            uuid.UUID | None,
            QueryParameter(description="Admins: one tenant's rows (every tenant's without)."),
        ] = None,
        action: Annotated[AuditAction | None, QueryParameter()] = None,
        actor_id: Annotated[uuid.UUID | None, QueryParameter(description="Who did it.")] = None,
        target_id: Annotated[
            uuid.UUID | None, QueryParameter(description="What it was done to.")
        ] = None,
        since: Annotated[str | None, moment_parameter("Inclusive; UTC when no offset.")] = None,
        until: Annotated[str | None, moment_parameter("Exclusive; UTC when no offset.")] = None,
    ) -> Paginated[AuditEventView]:
        where = AuditFilter(
            tenant_id=tenant_id,
            action=action,
            actor_id=actor_id,
            target_id=target_id,
            since=parse_moment(since, "since"),
            until=parse_moment(until, "until"),
        )
        return paginated(await events.execute(caller, where, paging), lambda view: view)
