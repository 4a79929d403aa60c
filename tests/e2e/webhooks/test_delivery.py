"""Webhook deliveries end to end (SPEC §3.8): a real receiver over HTTP, signatures checked
with the Standard Webhooks reference library and the seed's function, retries on a shrunk
schedule, 3xx and 410, the last failure disabling the endpoint with an email, replay, and
secret rotation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from tests.e2e.identity.conftest import Client, bearer, login, register
from tests.e2e.webhooks.conftest import (
    WEBHOOKS,
    AppFactory,
    StaticResolver,
    deliveries,
    eventually,
    register_webhook,
)
from tests.e2e.webhooks.receiver import Hit, Receiver
from tests.unit.webhooks.test_signing import verify_webhook_signature


async def tenant_admin(client: Client, email: str = "boss@acme.test") -> dict[str, str]:
    await register(client, email, tenant_name="Acme")
    return bearer(await login(client, email))


def verified(hit: Hit, secret: str) -> dict[str, Any]:
    """The payload, after both signatures checked out with `secret`."""
    payload = Webhook(secret).verify(hit.body, hit.headers)
    assert verify_webhook_signature(hit.body.decode(), hit.headers["x-signature"], secret)
    return dict(payload)


async def test_a_receiver_failing_twice_gets_three_attempts_with_growing_delays_and_one_id(
    make_app: AppFactory, receiver: Receiver, dns: StaticResolver
) -> None:
    receiver.script = [(500, {}), (500, {})]
    dns.table["receiver.test"] = ["127.0.0.1"]  # no real DNS knows it: the checked address is used
    async with make_app(schedule="1,4") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url(host="receiver.test"))
        response = await client.put(
            "/api/v1/users/me", json={"full_name": "Ada Boss"}, headers=headers
        )
        assert response.status_code == 200, response.text
        first, second, third = await receiver.wait_for(3, within=30)

        async def succeeded() -> bool:
            (delivery,) = await deliveries(client, headers, hook["id"])
            return bool(delivery["status"] == "succeeded")

        await eventually(succeeded)
        (delivery,) = await deliveries(client, headers, hook["id"])
    assert (delivery["attempts"], delivery["response_code"]) == (3, 200)
    assert second.at - first.at < third.at - second.at
    assert second.at - first.at >= 0.9
    ids = {hit.headers["webhook-id"] for hit in (first, second, third)}
    assert ids == {delivery["webhook_id"]}
    assert first.headers["host"] == receiver.url(host="receiver.test").split("/")[2]
    for hit in (first, second, third):
        payload = verified(hit, hook["secret"])
        assert payload["event"] == "user.updated"
        assert payload["data"]["full_name"] == "Ada Boss"
    assert first.body == third.body
    assert int(third.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])


async def sent_test_event(client: Client, headers: dict[str, str], hook: dict[str, Any]) -> None:
    response = await client.post(f"{WEBHOOKS}/{hook['id']}/test", headers=headers)
    assert response.status_code == 202, response.text


async def the_delivery(
    client: Client, headers: dict[str, str], hook: dict[str, Any], status: str
) -> dict[str, Any]:
    """The endpoint's only delivery, once it has `status`."""
    found: list[dict[str, Any]] = []

    async def reached() -> bool:
        found[:] = await deliveries(client, headers, hook["id"])
        return len(found) == 1 and found[0]["status"] == status

    await eventually(reached)
    return found[0]


async def test_a_redirect_is_not_followed_and_the_attempt_fails(
    make_app: AppFactory, receiver: Receiver
) -> None:
    receiver.script = [(302, {"location": receiver.url("/elsewhere")})] * 2
    async with make_app(schedule="1") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url("/hook"))
        await sent_test_event(client, headers, hook)
        delivery = await the_delivery(client, headers, hook, "failed")
    assert [hit.path for hit in receiver.hits] == ["/hook", "/hook"]
    assert (delivery["attempts"], delivery["response_code"]) == (2, 302)


async def test_a_410_fails_the_delivery_and_disables_the_endpoint_at_once(
    make_app: AppFactory, receiver: Receiver
) -> None:
    receiver.script = [(410, {})]
    async with make_app(schedule="1,1,1") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url())
        await sent_test_event(client, headers, hook)
        delivery = await the_delivery(client, headers, hook, "failed")
        endpoint = (await client.get(f"{WEBHOOKS}/{hook['id']}", headers=headers)).json()["data"]
        again = await client.post(f"{WEBHOOKS}/{hook['id']}/test", headers=headers)
    assert (delivery["attempts"], delivery["response_code"]) == (1, 410)
    assert len(receiver.hits) == 1
    assert endpoint["enabled"] is False
    assert "410" in endpoint["disabled_reason"]
    assert again.status_code == 409


async def test_failing_for_good_disables_the_endpoint_and_emails_the_tenant_admins(
    make_app: AppFactory, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.script = [(500, {}), (503, {})]
    async with make_app(schedule="1") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url())
        await sent_test_event(client, headers, hook)
        delivery = await the_delivery(client, headers, hook, "failed")
        endpoint = (await client.get(f"{WEBHOOKS}/{hook['id']}", headers=headers)).json()["data"]

        async def emailed() -> bool:
            return any(
                "webhook" in path.read_text().lower() for path in tmp_path.glob("outbox/*.eml")
            )

        await eventually(emailed)
    assert (delivery["attempts"], delivery["response_code"]) == (2, 503)
    assert endpoint["enabled"] is False
    (email,) = [p.read_text() for p in tmp_path.glob("outbox/*.eml") if "webhook" in p.read_text()]
    assert "To: boss@acme.test" in email
    assert receiver.url() in email


async def test_a_failed_delivery_is_replayed_with_the_same_id_once_the_endpoint_is_enabled(
    make_app: AppFactory, receiver: Receiver
) -> None:
    receiver.script = [(500, {}), (500, {})]
    async with make_app(schedule="1") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url())
        url = f"{WEBHOOKS}/{hook['id']}"
        await sent_test_event(client, headers, hook)
        failed = await the_delivery(client, headers, hook, "failed")
        replay = f"{url}/deliveries/{failed['id']}/replay"
        while_disabled = await client.post(replay, headers=headers)
        enabled = await client.patch(url, json={"enabled": True}, headers=headers)
        replayed = await client.post(replay, headers=headers)
        delivered = await the_delivery(client, headers, hook, "succeeded")
        twice = await client.post(replay, headers=headers)
    assert while_disabled.status_code == 409
    assert enabled.json()["data"]["enabled"] is True
    assert replayed.status_code == 202, replayed.text
    assert twice.status_code == 409
    first, _, replayed_hit = receiver.hits
    assert first.headers["webhook-id"] == replayed_hit.headers["webhook-id"]
    assert replayed_hit.headers["webhook-id"] == failed["webhook_id"]
    assert first.body == replayed_hit.body
    assert delivered["response_code"] == 200


async def test_after_a_rotation_both_secrets_sign_for_the_overlap(
    make_app: AppFactory, receiver: Receiver
) -> None:
    async with make_app() as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url(), events=["file.uploaded"])
        response = await client.post(f"{WEBHOOKS}/{hook['id']}/rotate-secret", headers=headers)
        assert response.status_code == 200, response.text
        rotated = response.json()["data"]
        await sent_test_event(client, headers, hook)
        (hit,) = await receiver.wait_for(1)
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != hook["secret"]
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    Webhook(hook["secret"]).verify(hit.body, hit.headers)  # a receiver not switched yet
    payload = verified(hit, rotated["secret"])  # X-Signature: the new secret
    assert payload["event"] == "webhook.test"
    assert json.loads(hit.body)["data"]["webhook_id"] == hook["id"]
