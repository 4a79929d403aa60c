"""`DeliverWebhook`, one attempt at a time on fakes: what is sent, and what each answer does
to the delivery, the endpoint, the next job and the tenant admins' inboxes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook

from tessera.features.webhooks.application.endpoints import WEBHOOK_DELIVER, webhook_body
from tessera.features.webhooks.application.ports import Response
from tessera.features.webhooks.domain.delivery import DeliveryStatus, WebhookDelivery
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.features.webhooks.domain.signing import new_secret
from tests.unit.webhooks.fakes import NOW, World, a_world, an_admin
from tests.unit.webhooks.test_signing import verify_webhook_signature

URL = "https://hooks.test/tessera"


def wall_clock() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


async def endpoint_and_delivery(
    world: World, secret: str | None = None
) -> tuple[WebhookEndpoint, WebhookDelivery, str]:
    secret = secret or new_secret()
    endpoint = WebhookEndpoint.register(
        tenant_id=uuid.uuid4(),
        url=URL,
        events=["user.created"],
        description="",
        sealed_secret=f"sealed:{secret}",
        now=NOW,
    )
    await world.endpoints.add(endpoint)
    delivery = WebhookDelivery.create(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=uuid.uuid4(),
        event="user.created",
        body=webhook_body("user.created", NOW, {"id": "u1"}),
        now=NOW,
    )
    await world.deliveries.add(delivery)
    return endpoint, delivery, secret


async def stored(world: World, delivery: WebhookDelivery) -> WebhookDelivery:
    found = await world.deliveries.get(delivery.id)
    assert found is not None
    return found


async def test_a_delivery_is_signed_both_ways_and_succeeds_on_2xx() -> None:
    world = a_world()
    _, delivery, secret = await endpoint_and_delivery(world)
    world.clock.set(wall_clock())  # the reference library checks the timestamp's age
    await world.deliver().execute(delivery.id)
    (sent,) = world.sender.sent
    payload = Webhook(secret).verify(sent.body, dict(sent.headers))
    assert payload == {
        "event": "user.created",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {"id": "u1"},
    }
    assert verify_webhook_signature(sent.body.decode(), sent.headers["x-signature"], secret)
    assert sent.headers["webhook-id"] == delivery.webhook_id
    done = await stored(world, delivery)
    assert (done.status, done.attempts, done.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )


async def test_a_failure_schedules_the_next_attempt_as_a_job_due_later() -> None:
    world = a_world()
    _, delivery, _ = await endpoint_and_delivery(world)
    world.sender.script = [Response(500)]
    await world.deliver(schedule=(5, 300)).execute(delivery.id)
    await world.unit_of_work.commit()  # RunJob commits the handler's writes
    waiting = await stored(world, delivery)
    (job,) = world.outbox.events
    assert waiting.status is DeliveryStatus.PENDING
    assert (waiting.attempts, waiting.last_status_code) == (1, 500)
    assert waiting.next_attempt_at == NOW + timedelta(seconds=5)
    assert (job.type, job.payload, job.occurred_at) == (
        WEBHOOK_DELIVER,
        {"delivery_id": str(delivery.id)},
        NOW + timedelta(seconds=5),
    )


async def test_retry_after_on_a_429_pushes_the_next_attempt_back() -> None:
    world = a_world()
    _, delivery, _ = await endpoint_and_delivery(world)
    world.sender.script = [Response(429, retry_after="600")]
    await world.deliver(schedule=(5, 300)).execute(delivery.id)
    assert (await stored(world, delivery)).next_attempt_at == NOW + timedelta(seconds=600)


async def test_retry_after_on_a_500_is_ignored() -> None:
    world = a_world()
    _, delivery, _ = await endpoint_and_delivery(world)
    world.sender.script = [Response(500, retry_after="600")]
    await world.deliver(schedule=(5, 300)).execute(delivery.id)
    assert (await stored(world, delivery)).next_attempt_at == NOW + timedelta(seconds=5)


async def test_a_410_fails_and_disables_without_another_attempt() -> None:
    world = a_world()
    endpoint, delivery, _ = await endpoint_and_delivery(world)
    world.sender.script = [Response(410)]
    await world.deliver().execute(delivery.id)
    found = await world.endpoints.get(endpoint.id)
    assert found is not None
    assert not found.enabled
    assert (await stored(world, delivery)).status is DeliveryStatus.FAILED
    assert world.outbox.pending == []


async def test_the_last_failure_disables_the_endpoint_and_emails_its_tenant_admins_once() -> None:
    world = a_world()
    endpoint, delivery, _ = await endpoint_and_delivery(world)
    other = WebhookDelivery.create(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=uuid.uuid4(),
        event="user.created",
        body="{}",
        now=NOW,
    )
    await world.deliveries.add(other)
    await world.users.add(an_admin(endpoint.tenant_id, "boss@acme.test"))
    await world.users.add(an_admin(uuid.uuid4(), "boss@globex.test"))
    world.sender.script = [Response(None, error="cannot connect")] * 3
    deliver = world.deliver(schedule=(5,))
    await deliver.execute(delivery.id)  # attempt 1 of 2: retried
    await deliver.execute(delivery.id)  # attempt 2: failed for good
    other_endpoint = await world.endpoints.get(endpoint.id)
    assert other_endpoint is not None
    assert not other_endpoint.enabled
    await deliver.execute(other.id)  # the endpoint is disabled now: no request, no email
    emails = [e for e in world.outbox.pending if e.type == "email.send"]
    assert [e.payload["to"] for e in emails] == ["boss@acme.test"]
    assert emails[0].payload["template"] == "webhook_disabled"
    assert len(world.sender.sent) == 2
    assert (await stored(world, other)).status is DeliveryStatus.FAILED


async def test_an_unsafe_address_at_send_time_is_a_failed_attempt_without_a_request() -> None:
    world = a_world()
    _, delivery, _ = await endpoint_and_delivery(world)
    world.guard.refused.add(URL)
    await world.deliver().execute(delivery.id)
    waiting = await stored(world, delivery)
    assert world.sender.sent == []
    assert waiting.attempts == 1
    assert waiting.last_error is not None
    assert "10.0.0.1" in waiting.last_error


async def test_a_finished_delivery_is_not_sent_again() -> None:
    world = a_world()
    _, delivery, _ = await endpoint_and_delivery(world)
    deliver = world.deliver()
    await deliver.execute(delivery.id)
    await deliver.execute(delivery.id)  # the job delivered twice
    assert len(world.sender.sent) == 1


async def test_during_a_rotation_two_signatures_go_and_x_signature_uses_the_new_secret() -> None:
    world = a_world()
    endpoint, delivery, old = await endpoint_and_delivery(world)
    new = new_secret()
    world.clock.set(wall_clock())
    endpoint.rotate(f"sealed:{new}", world.clock.now())
    await world.endpoints.save(endpoint)
    await world.deliver().execute(delivery.id)
    (sent,) = world.sender.sent
    assert len(sent.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(sent.body, dict(sent.headers))
    Webhook(new).verify(sent.body, dict(sent.headers))
    assert verify_webhook_signature(sent.body.decode(), sent.headers["x-signature"], new)
