from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tessera.features.webhooks.application.endpoints import delivery_due, webhook_body
from tessera.features.webhooks.application.ports import DeliveryRepository, EndpointRepository
from tessera.features.webhooks.domain.delivery import WebhookDelivery
from tessera.shared.application.ports import Clock, Outbox


class FanOutEvent:
    """One domain event becomes one delivery per enabled endpoint of its tenant that
    subscribes to it, each with a delivery job in the outbox.

    Runs inside the event's job: its writes commit with the job (`RunJob`), so a crash
    leaves nothing half done, and a repeated job adds nothing (one delivery per endpoint
    and event). An event of no tenant reaches no webhook.
    """

    def __init__(
        self,
        endpoints: EndpointRepository,
        deliveries: DeliveryRepository,
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self._endpoints, self._deliveries = endpoints, deliveries
        self._outbox, self._clock = outbox, clock

    async def execute(
        self,
        *,
        event: str,
        event_id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        occurred_at: datetime,
        data: dict[str, Any],
    ) -> int:
        if tenant_id is None:
            return 0
        body = webhook_body(event, occurred_at, data)
        now, made = self._clock.now(), 0
        for endpoint in await self._endpoints.subscribed(tenant_id, event):
            delivery = WebhookDelivery.create(
                tenant_id=tenant_id,
                endpoint_id=endpoint.id,
                event_id=event_id,
                event=event,
                body=body,
                now=now,
            )
            if await self._deliveries.add(delivery):
                self._outbox.record(delivery_due(delivery, at=now))
                made += 1
        return made
