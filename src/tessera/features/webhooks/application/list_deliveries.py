from __future__ import annotations

import uuid

from tessera.features.webhooks.application.endpoints import DeliveryView, reachable_endpoint
from tessera.features.webhooks.application.ports import DeliveryRepository, EndpointRepository
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import Page, PageRequest


class ListDeliveries:
    """The delivery log of one reachable endpoint (404 otherwise), newest first by default."""

    def __init__(
        self, endpoints: EndpointRepository, deliveries: DeliveryRepository, scope: TenantScope
    ) -> None:
        self._endpoints, self._deliveries, self._scope = endpoints, deliveries, scope

    async def execute(
        self, caller: Principal, endpoint_id: uuid.UUID, page: PageRequest
    ) -> Page[DeliveryView]:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        found = await self._deliveries.list(page, endpoint_id=endpoint.id)
        views = [DeliveryView.of(delivery) for delivery in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
