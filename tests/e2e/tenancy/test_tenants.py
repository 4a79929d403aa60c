"""`/api/v1/tenants` (SPEC §3.5): admins see and rename every tenant, a tenant admin only
its own, a user none; another tenant is always answered as missing, never shown or changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.identity.conftest import Client
from tests.e2e.world import build_world

TENANTS = "/api/v1/tenants"


def data(response: Any) -> Any:
    return response.json()["data"]


async def test_an_admin_pages_through_every_tenant_sorted_as_asked(client: Client) -> None:
    world = await build_world(client)
    response = await client.get(
        TENANTS, params={"sort": "name", "order": "asc", "limit": 2}, headers=world.headers["admin"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [tenant["name"] for tenant in body["data"]] == ["Acme", "Alice"]
    # Acme, Globex, Operations, and the two tenants the users' registrations made ("Alice")
    assert body["pagination"]["total_items"] == 5
    assert body["pagination"]["has_next"] is True
    names = [tenant["name"] for tenant in body["data"]]
    for page in (2, 3):
        more = await client.get(
            TENANTS,
            params={"sort": "name", "order": "asc", "limit": 2, "page": page},
            headers=world.headers["admin"],
        )
        names += [tenant["name"] for tenant in data(more)]
    assert names == ["Acme", "Alice", "Alice", "Globex", "Operations"]
    assert more.json()["pagination"]["has_next"] is False


async def test_a_tenant_admin_lists_only_its_own_tenant(client: Client) -> None:
    world = await build_world(client)
    response = await client.get(TENANTS, headers=world.headers["globex_admin"])
    assert response.status_code == 200, response.text
    assert [tenant["id"] for tenant in data(response)] == [world.globex]
    assert response.json()["pagination"]["total_items"] == 1


@pytest.mark.parametrize("who", ["acme_user", "globex_user"])
async def test_a_user_may_not_list_read_or_rename_tenants(client: Client, who: str) -> None:
    world = await build_world(client)
    own = world.acme if who == "acme_user" else world.globex
    headers = world.headers[who]
    for response in (
        await client.get(TENANTS, headers=headers),
        await client.get(f"{TENANTS}/{own}", headers=headers),
        await client.patch(f"{TENANTS}/{own}", json={"name": "Mine now"}, headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("who", ["globex_admin", "globex_user"])
async def test_another_tenant_is_never_shown_or_changed(client: Client, who: str) -> None:
    world = await build_world(client)
    headers = world.headers[who]
    read = await client.get(f"{TENANTS}/{world.acme}", headers=headers)
    renamed = await client.patch(f"{TENANTS}/{world.acme}", json={"name": "Pwned"}, headers=headers)
    for response in (read, renamed):
        assert response.status_code in (403, 404), response.text
        assert "Acme" not in response.text
    expected = 404 if who == "globex_admin" else 403
    assert (read.status_code, renamed.status_code) == (expected, expected)
    still = await client.get(f"{TENANTS}/{world.acme}", headers=world.headers["admin"])
    assert data(still)["name"] == "Acme"


async def test_a_tenant_admin_renames_its_tenant_and_an_admin_any(client: Client) -> None:
    world = await build_world(client)
    own = await client.patch(
        f"{TENANTS}/{world.acme}",
        json={"name": "  Acme Corp  "},
        headers=world.headers["acme_admin"],
    )
    assert own.status_code == 200, own.text
    assert data(own)["name"] == "Acme Corp"
    other = await client.patch(
        f"{TENANTS}/{world.globex}", json={"name": "Globex Ltd"}, headers=world.headers["admin"]
    )
    assert data(other)["name"] == "Globex Ltd"
    read = await client.get(f"{TENANTS}/{world.globex}", headers=world.headers["globex_admin"])
    assert data(read)["name"] == "Globex Ltd"
    assert data(read)["updated_at"] >= data(read)["created_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "   "}, "name"), ({"name": "x" * 256}, "name"), ({"is_active": False}, None)],
    ids=["blank", "too-long", "unknown-field"],
)
async def test_a_bad_rename_is_refused(client: Client, body: dict[str, Any], field: str) -> None:
    world = await build_world(client)
    response = await client.patch(
        f"{TENANTS}/{world.acme}", json=body, headers=world.headers["acme_admin"]
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert response.json()["error"]["field"] == field


async def test_unknown_tenants_and_missing_tokens(client: Client) -> None:
    world = await build_world(client)
    missing = await client.get(f"{TENANTS}/{uuid.uuid4()}", headers=world.headers["admin"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get(TENANTS)).status_code == 401
    bad_limit = await client.get(TENANTS, params={"limit": 101}, headers=world.headers["admin"])
    assert bad_limit.status_code == 400


@pytest.mark.postgres
@pytest.mark.redis
async def test_tenants_stay_apart_on_postgresql_and_redis(production_client: Client) -> None:
    world = await build_world(production_client)
    client = production_client
    foreign = await client.get(f"{TENANTS}/{world.globex}", headers=world.headers["acme_admin"])
    assert foreign.status_code == 404
    listed = await client.get(TENANTS, headers=world.headers["acme_admin"])
    assert [tenant["id"] for tenant in data(listed)] == [world.acme]
    everyone = await client.get(TENANTS, headers=world.headers["admin"])
    assert {world.acme, world.globex} <= {tenant["id"] for tenant in data(everyone)}
