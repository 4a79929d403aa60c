"""`FanOutEvent` and its job: one delivery per subscribed, enabled endpoint of the event's
tenant, each with a delivery job; a repeated job adds nothing."""

from __future__ import annotations

import json
import uuid

import pytest

from tessera.features.jobs.domain.job import Job
from tessera.features.webhooks.adapters.jobs import DeliverWebhookJob, WebhookEventJob
from tessera.features.webhooks.application.endpoints import WEBHOOK_DELIVER
from tessera.features.webhooks.application.fan_out_event import FanOutEvent
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.shared.domain.errors import InvalidInput
from tests.unit.webhooks.fakes import NOW, World, a_world

TENANT = uuid.uuid4()


async def endpoint(world: World, *events: str, tenant: uuid.UUID = TENANT) -> WebhookEndpoint:
    made = WebhookEndpoint.register(
        tenant_id=tenant,
        url="https://hooks.test/",
        events=events,
        description="",
        sealed_secret="sealed:x",
        now=NOW,
    )
    await world.endpoints.add(made)
    return made


def job(event: str = "file.uploaded", tenant: uuid.UUID | None = TENANT) -> Job:
    return Job(
        job_id=str(uuid.uuid4()),
        type=event,
        data={"file_id": "f1"},
        attempts=0,
        created_at=NOW.isoformat(),
        tenant_id=None if tenant is None else str(tenant),
    )


def handler(world: World) -> WebhookEventJob:
    return WebhookEventJob(
        FanOutEvent(world.endpoints, world.deliveries, world.outbox, world.clock)
    )


async def test_an_event_reaches_only_the_tenants_enabled_subscribers() -> None:
    world = a_world()
    wanted = await endpoint(world, "file.uploaded", "file.deleted")
    await endpoint(world, "user.created")
    disabled = await endpoint(world, "file.uploaded")
    await world.endpoints.disable(disabled.id, reason="off", now=NOW)
    await endpoint(world, "file.uploaded", tenant=uuid.uuid4())
    await handler(world).handle(job())
    (delivery,) = world.deliveries.rows.values()
    (queued,) = world.outbox.pending
    assert delivery.endpoint_id == wanted.id
    assert json.loads(delivery.body) == {
        "event": "file.uploaded",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {"file_id": "f1"},
    }
    assert (queued.type, queued.payload) == (WEBHOOK_DELIVER, {"delivery_id": str(delivery.id)})


async def test_a_repeated_event_job_delivers_nothing_twice() -> None:
    world = a_world()
    await endpoint(world, "file.uploaded")
    again = job()
    await handler(world).handle(again)
    await handler(world).handle(again)
    assert len(world.deliveries.rows) == 1
    assert len(world.outbox.pending) == 1


async def test_an_event_of_no_tenant_reaches_no_webhook() -> None:
    world = a_world()
    await endpoint(world, "user.created")
    await handler(world).handle(job("user.created", tenant=None))
    assert world.deliveries.rows == {}


async def test_a_delivery_job_without_a_delivery_id_is_invalid() -> None:
    world = a_world()
    bad = Job(
        job_id=str(uuid.uuid4()),
        type=WEBHOOK_DELIVER,
        data={},
        attempts=0,
        created_at=NOW.isoformat(),
    )
    with pytest.raises(InvalidInput):
        await DeliverWebhookJob(world.deliver()).handle(bad)
