from __future__ import annotations

import uuid

from tessera.features.webhooks.application.endpoints import (
    DeliveryView,
    delivery_due,
    reachable_endpoint,
    webhook_body,
)
from tessera.features.webhooks.application.ports import DeliveryRepository, EndpointRepository
from tessera.features.webhooks.domain.delivery import WebhookDelivery
from tessera.features.webhooks.domain.endpoint import EndpointDisabled
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

TEST_EVENT = "webhook.test"


class SendTestEvent:
    """Queues a `webhook.test` delivery to one endpoint, whatever it subscribes to, signed
    and retried like any other; a disabled endpoint is refused (409)."""

    def __init__(
        self,
        endpoints: EndpointRepository,
        deliveries: DeliveryRepository,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
    ) -> None:
        self._endpoints, self._deliveries, self._outbox = endpoints, deliveries, outbox
        self._uow, self._clock, self._scope = unit_of_work, clock, scope

    async def execute(self, caller: Principal, endpoint_id: uuid.UUID) -> DeliveryView:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled(field="webhook_id")
        now = self._clock.now()
        data = {"webhook_id": str(endpoint.id), "requested_by": str(caller.user_id)}
        delivery = WebhookDelivery.create(
            tenant_id=endpoint.tenant_id,
            endpoint_id=endpoint.id,
            event_id=uuid.uuid4(),
            event=TEST_EVENT,
            body=webhook_body(TEST_EVENT, now, data),
            now=now,
        )
        await self._deliveries.add(delivery)
        self._outbox.record(delivery_due(delivery, at=now))
        await self._uow.commit()
        return DeliveryView.of(delivery)
