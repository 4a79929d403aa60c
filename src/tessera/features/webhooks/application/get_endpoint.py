from __future__ import annotations

import uuid

from tessera.features.webhooks.application.endpoints import WebhookView, reachable_endpoint
from tessera.features.webhooks.application.ports import EndpointRepository
from tessera.shared.application.ports import Clock
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal


class GetEndpoint:
    """One endpoint of the caller's tenant (an admin: any); another tenant's is a 404."""

    def __init__(self, endpoints: EndpointRepository, clock: Clock, scope: TenantScope) -> None:
        self._endpoints, self._clock, self._scope = endpoints, clock, scope

    async def execute(self, caller: Principal, endpoint_id: uuid.UUID) -> WebhookView:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        return WebhookView.of(endpoint, now=self._clock.now())
