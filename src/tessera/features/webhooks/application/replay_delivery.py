from __future__ import annotations

import logging
import uuid

from tessera.features.webhooks.application.endpoints import (
    DeliveryView,
    delivery_due,
    reachable_endpoint,
)
from tessera.features.webhooks.application.ports import DeliveryRepository, EndpointRepository
from tessera.features.webhooks.domain.delivery import DeliveryNotFound
from tessera.features.webhooks.domain.endpoint import EndpointDisabled
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.webhooks")


class ReplayDelivery:
    """Sends a failed delivery again: same `webhook-id` and body, the retry schedule from
    its start (attempts counted from 0). Only a failed one (409 otherwise), only to an
    enabled endpoint (409: re-enable it first), only the endpoint's own (404)."""

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

    async def execute(
        self, caller: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> DeliveryView:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        delivery = await self._deliveries.get(delivery_id)
        if delivery is None or delivery.endpoint_id != endpoint.id:
            raise DeliveryNotFound(field="delivery_id")
        if not endpoint.enabled:
            raise EndpointDisabled(field="webhook_id")
        now = self._clock.now()
        delivery.replay(now)
        await self._deliveries.save(delivery)
        self._outbox.record(delivery_due(delivery, at=now))
        await self._uow.commit()
        logger.info(
            "webhook delivery replayed",
            extra={"delivery": str(delivery.id), "user_id": str(caller.user_id)},
        )
        return DeliveryView.of(delivery)
