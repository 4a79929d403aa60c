"""The webhooks feature's job handlers: fan an event out, and make one delivery attempt."""

from __future__ import annotations

import uuid
from datetime import datetime

from tessera.features.jobs.domain.job import Job
from tessera.features.webhooks.application.deliver_webhook import DeliverWebhook
from tessera.features.webhooks.application.fan_out_event import FanOutEvent
from tessera.shared.domain.errors import InvalidInput

# The domain events other features record that webhooks deliver (SPEC §3.8; `webhook.test`
# is made by `SendTestEvent` itself).
FANNED_OUT_EVENTS = (
    "user.created",
    "user.updated",
    "user.deleted",
    "file.uploaded",
    "file.deleted",
)


class WebhookEventJob:
    """Handles each of `FANNED_OUT_EVENTS`: the event's payload becomes the deliveries'
    `data`, its time their `timestamp`, its id what keeps a repeat from delivering twice."""

    def __init__(self, fan_out: FanOutEvent) -> None:
        self._fan_out = fan_out

    async def handle(self, job: Job) -> None:
        await self._fan_out.execute(
            event=job.type,
            event_id=uuid.UUID(job.job_id),
            tenant_id=None if job.tenant_id is None else uuid.UUID(job.tenant_id),
            occurred_at=datetime.fromisoformat(job.created_at),
            data=job.data,
        )


class DeliverWebhookJob:
    """Handles `webhook.deliver` (`{"delivery_id"}`) on the `webhooks` queue."""

    def __init__(self, deliver: DeliverWebhook) -> None:
        self._deliver = deliver

    async def handle(self, job: Job) -> None:
        try:
            delivery_id = uuid.UUID(str(job.data["delivery_id"]))
        except (KeyError, ValueError):
            raise InvalidInput("Bad webhook.deliver payload.") from None
        await self._deliver.execute(delivery_id)
