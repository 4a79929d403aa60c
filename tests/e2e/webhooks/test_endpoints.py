"""The webhooks API (SPEC §3.8): who may manage which endpoints, what is refused at
registration, what is never shown, and the SSRF guard at registration and at send time."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tessera.shared.adapters.database import create_engine
from tests.e2e.webhooks.conftest import (
    PUBLIC_ADDRESS,
    WEBHOOKS,
    AppFactory,
    StaticResolver,
    deliveries,
    eventually,
    register_webhook,
)
from tests.e2e.webhooks.receiver import Receiver
from tests.e2e.webhooks.test_delivery import sent_test_event, tenant_admin
from tests.e2e.world import build_world

REFUSED = [
    pytest.param("http://127.0.0.1/hook", "loopback", id="loopback"),
    pytest.param("http://169.254.169.254/latest/meta-data", "metadata", id="cloud-metadata"),
    pytest.param("http://internal.test/hook", "10.0.0.0/8", id="name-resolving-to-10.0.0.1"),
    pytest.param("ftp://files.test/hook", "starting with http:// or https://", id="not-http"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
async def test_private_and_metadata_targets_are_refused_at_registration(
    make_app: AppFactory, dns: StaticResolver, url: str, reason: str
) -> None:
    dns.table["internal.test"] = ["10.0.0.1"]
    async with make_app(private="false") as client:
        headers = await tenant_admin(client)
        body = {"url": url, "events": ["user.created"]}
        response = await client.post(WEBHOOKS, json=body, headers=headers)
        listed = (await client.get(WEBHOOKS, headers=headers)).json()
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "url"
    assert reason in response.json()["error"]["message"]
    assert listed["pagination"]["total_items"] == 0


async def test_a_name_that_moved_to_a_private_address_is_refused_at_send_time(
    make_app: AppFactory, dns: StaticResolver, receiver: Receiver
) -> None:
    dns.table["hooks.test"] = [PUBLIC_ADDRESS]
    async with make_app(private="false") as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, "http://hooks.test/hook")
        dns.table["hooks.test"] = ["10.0.0.1"]  # DNS rebinding after the check
        await sent_test_event(client, headers, hook)

        async def attempted() -> bool:
            found = await deliveries(client, headers, hook["id"])
            return bool(found and found[0]["attempts"] == 1)

        await eventually(attempted)
        (delivery,) = await deliveries(client, headers, hook["id"])
    assert delivery["response_code"] is None
    assert "10.0.0.1" in delivery["last_error"]
    assert delivery["status"] == "pending"  # retried on the schedule, in case DNS recovers
    assert receiver.hits == []


async def test_unknown_events_and_missing_events_are_refused(make_app: AppFactory) -> None:
    async with make_app() as client:
        headers = await tenant_admin(client)
        unknown = {"url": "http://127.0.0.1:9/h", "events": ["user.created", "user.exploded"]}
        empty = {"url": "http://127.0.0.1:9/h", "events": []}
        answers = [
            await client.post(WEBHOOKS, json=body, headers=headers) for body in (unknown, empty)
        ]
    assert [answer.status_code for answer in answers] == [400, 400]
    assert [answer.json()["error"]["field"] for answer in answers] == ["events[1]", "events"]
    assert "user.exploded" in answers[0].json()["error"]["message"]


async def test_the_secret_is_shown_once_and_stored_only_sealed(
    make_app: AppFactory, tmp_path: Path
) -> None:
    async with make_app() as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, "http://127.0.0.1:9/hook")
        url = f"{WEBHOOKS}/{hook['id']}"
        shown = [
            (await client.get(WEBHOOKS, headers=headers)).text,
            (await client.get(url, headers=headers)).text,
            (await client.patch(url, json={"description": "x"}, headers=headers)).text,
        ]
    assert hook["secret"].startswith("whsec_")
    assert all(hook["secret"] not in body and "whsec_" not in body for body in shown)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}")
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT secret FROM webhook_endpoints"))).one()
    finally:
        await engine.dispose()
    assert stored.secret.startswith("v1:")
    assert hook["secret"] not in stored.secret


async def test_another_tenants_admin_cannot_see_or_touch_a_webhook(
    make_app: AppFactory, receiver: Receiver
) -> None:
    async with make_app() as client:
        world = await build_world(client)
        acme, globex = world.headers["acme_admin"], world.headers["globex_admin"]
        hook = await register_webhook(client, acme, receiver.url())
        url = f"{WEBHOOKS}/{hook['id']}"
        attempts = [
            await client.get(url, headers=globex),
            await client.patch(url, json={"enabled": False}, headers=globex),
            await client.post(f"{url}/rotate-secret", headers=globex),
            await client.post(f"{url}/test", headers=globex),
            await client.get(f"{url}/deliveries", headers=globex),
            await client.delete(url, headers=globex),
        ]
        globex_list = (await client.get(WEBHOOKS, headers=globex)).json()
        by_name = await client.get(WEBHOOKS, params={"tenant_id": world.acme}, headers=globex)
        as_user = await client.get(WEBHOOKS, headers=world.headers["acme_user"])
        as_admin = await client.get(url, headers=world.headers["admin"])
        still = await client.get(url, headers=acme)
    assert [attempt.status_code for attempt in attempts] == [404] * 6
    assert globex_list["data"] == []
    assert by_name.status_code == 404
    assert as_user.status_code == 403
    assert as_admin.status_code == 200
    assert still.json()["data"]["enabled"] is True
    assert receiver.hits == []


async def test_the_list_is_paginated_and_delete_removes_the_webhook(make_app: AppFactory) -> None:
    async with make_app() as client:
        headers = await tenant_admin(client)
        made = [
            await register_webhook(client, headers, f"http://127.0.0.1:9/h{n}") for n in range(3)
        ]
        page = (await client.get(WEBHOOKS, params={"limit": 2}, headers=headers)).json()
        removed = await client.delete(f"{WEBHOOKS}/{made[0]['id']}", headers=headers)
        gone = await client.get(f"{WEBHOOKS}/{made[0]['id']}", headers=headers)
    assert page["pagination"]["total_items"] == 3
    assert len(page["data"]) == 2
    assert removed.status_code == 200
    assert gone.status_code == 404


async def test_the_openapi_schema_shows_every_webhook_route_and_the_secret_only_once(
    make_app: AppFactory,
) -> None:
    async with make_app() as client:
        schema = (await client.get("/schema/openapi.json")).json()
    paths = {path for path in schema["paths"] if path.startswith(WEBHOOKS)}
    assert paths == {
        WEBHOOKS,
        f"{WEBHOOKS}/{{webhook_id}}",
        f"{WEBHOOKS}/{{webhook_id}}/rotate-secret",
        f"{WEBHOOKS}/{{webhook_id}}/test",
        f"{WEBHOOKS}/{{webhook_id}}/deliveries",
        f"{WEBHOOKS}/{{webhook_id}}/deliveries/{{delivery_id}}/replay",
    }
    components = schema["components"]["schemas"]
    with_secret = {
        name.rsplit("_", 1)[-1]
        for name, body in components.items()
        if "secret" in body.get("properties", {})
    }
    # The webhook secret is shown on creation and rotation only; the other schema with a
    # secret is two-factor set-up's, shown once to the user enrolling.
    assert with_secret == {"CreatedWebhook", "RotatedSecret", "TotpSetupView"}


async def test_a_change_that_changes_nothing_leaves_updated_at(make_app: AppFactory) -> None:
    async with make_app() as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, "http://127.0.0.1:9/hook")
        url = f"{WEBHOOKS}/{hook['id']}"
        same = {key: hook[key] for key in ("url", "events", "description", "enabled")}
        for change in ({}, same, {"events": list(reversed(hook["events"]))}):
            response = await client.patch(url, json=change, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["updated_at"] == hook["updated_at"], change
        changed = await client.patch(url, json={"description": "new"}, headers=headers)
        assert changed.json()["data"]["updated_at"] != hook["updated_at"]
