from __future__ import annotations

import uuid

from tessera.features.webhooks.application.endpoints import WebhookView, managed_tenant
from tessera.features.webhooks.application.ports import EndpointRepository
from tessera.shared.application.ports import Clock
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import Page, PageRequest


class ListEndpoints:
    """A page of one tenant's endpoints: the caller's; an admin may name another."""

    def __init__(self, endpoints: EndpointRepository, clock: Clock, scope: TenantScope) -> None:
        self._endpoints, self._clock, self._scope = endpoints, clock, scope

    async def execute(
        self, caller: Principal, page: PageRequest, *, tenant_id: uuid.UUID | None = None
    ) -> Page[WebhookView]:
        tenant = managed_tenant(caller, tenant_id, self._scope)
        found = await self._endpoints.list(page, tenant_id=tenant)
        now = self._clock.now()
        views = [WebhookView.of(endpoint, now=now) for endpoint in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
