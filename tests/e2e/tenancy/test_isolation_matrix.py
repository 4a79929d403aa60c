"""SPEC §3.5 as one matrix: for every endpoint that takes an id, each role of the other tenant
gets 403 or 404 and never the resource; on SQLite, and on PostgreSQL as the app role with
row-level security. Then the admin rate-limit tier, with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing, Client, bearer, login
from tests.e2e.world import World, build_world

API = "/api/v1"


@dataclass(frozen=True)
class Target:
    """One resource of Acme's, and what of it must never show up in an answer."""

    method: str
    path: str
    secret: str
    body: dict[str, Any] | None = None


async def acme_targets(client: Client, world: World) -> list[Target]:
    acme_admin = world.headers["acme_admin"]
    staff = await client.get(f"{API}/users", params={"search": "staff@acme"}, headers=acme_admin)
    (staff_user,) = staff.json()["data"]
    invited = await client.post(
        f"{API}/invitations", json={"email": "secret-invitee@acme.test"}, headers=acme_admin
    )
    invitation = invited.json()["data"]
    sessions = await client.get(f"{API}/auth/sessions", headers=acme_admin)
    session_id = sessions.json()["data"][0]["session_id"]
    uploaded = await client.post(
        f"{API}/files",
        files={"file": ("secret-acme-file.txt", b"Acme plans\n")},
        headers=world.headers["acme_user"],
    )
    file_id = uploaded.json()["data"]["id"]
    user = f"{API}/users/{staff_user['user_id']}"
    return [
        Target("GET", user, "staff@acme.test"),
        Target("PATCH", user, "staff@acme.test", {"full_name": "Taken Over"}),
        Target("DELETE", user, "staff@acme.test"),
        Target("GET", f"{API}/tenants/{world.acme}", "Acme"),
        Target("PATCH", f"{API}/tenants/{world.acme}", "Acme", {"name": "Pwned"}),
        Target("DELETE", f"{API}/invitations/{invitation['id']}", "secret-invitee"),
        Target("DELETE", f"{API}/auth/sessions/{session_id}", session_id),
        Target("GET", f"{API}/users", "staff@acme.test", None),
        Target("GET", f"{API}/invitations", "secret-invitee", None),
        Target("GET", f"{API}/files/{file_id}", "secret-acme-file"),
        Target("DELETE", f"{API}/files/{file_id}", "secret-acme-file"),
        Target("GET", f"{API}/files", "secret-acme-file", None),
    ]


@pytest.mark.parametrize("who", ["globex_admin", "globex_user"])
async def test_the_other_tenant_never_reaches_acme(client: Client, who: str) -> None:
    await the_other_tenant_never_reaches_acme(client, who)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("who", ["globex_admin", "globex_user"])
async def test_nor_on_postgresql_under_row_level_security(
    production_client: Client, who: str
) -> None:
    await the_other_tenant_never_reaches_acme(production_client, who)


async def the_other_tenant_never_reaches_acme(client: Client, who: str) -> None:
    world = await build_world(client)
    targets = await acme_targets(client, world)
    for target in targets:
        response = await client.request(
            target.method, target.path, json=target.body, headers=world.headers[who]
        )
        lists = (f"{API}/users", f"{API}/invitations", f"{API}/files")
        listing = target.method == "GET" and target.path in lists
        own_list = listing and (who == "globex_admin" or target.path == f"{API}/files")
        if own_list:  # their own tenant's list: allowed, Acme absent
            assert response.status_code == 200, (target, response.text)
        else:
            assert response.status_code in (403, 404), (target, response.status_code)
        assert target.secret not in response.text, target
    # and nothing of Acme's changed
    admin = world.headers["admin"]
    tenant = await client.get(f"{API}/tenants/{world.acme}", headers=admin)
    assert tenant.json()["data"]["name"] == "Acme"
    staff = await client.get(f"{API}/users", params={"search": "staff@acme"}, headers=admin)
    assert [u["full_name"] for u in staff.json()["data"]] == ["Alice"]
    invitations = await client.get(f"{API}/invitations", headers=world.headers["acme_admin"])
    assert [i["status"] for i in invitations.json()["data"]] == ["pending"]
    sessions = await client.get(f"{API}/auth/sessions", headers=world.headers["acme_admin"])
    assert sessions.status_code == 200
    assert len(sessions.json()["data"]) == 1
    files = await client.get(f"{API}/files", headers=world.headers["acme_user"])
    assert [f["original_name"] for f in files.json()["data"]] == ["secret-acme-file.txt"]


@pytest.fixture
async def limited_client(tmp_path: Path) -> AsyncIterator[Client]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    settings = settings_for(
        database_url=url,
        data_dir=str(tmp_path),
        jwt_secret_key=SECRET,
        rate_limit_auth_per_minute="1000",
        rate_limit_api_per_minute="3",
        rate_limit_admin_per_minute="6",
    )
    async with client_for(settings, CheapHashing()) as running:
        yield running


async def test_admins_get_the_admin_tier_and_everyone_else_the_api_tier(
    limited_client: Client,
) -> None:
    client = limited_client
    world = await build_world(client)
    admin_token = await login(client, "root@ops.test")  # a fresh token: a fresh count
    admin = [await client.get(f"{API}/users/me", headers=bearer(admin_token)) for _ in range(7)]
    assert [r.status_code for r in admin] == [200] * 6 + [429]
    assert admin[0].headers["ratelimit-policy"] == '"admin";q=6;w=60'
    tenant_admin = [
        await client.get(f"{API}/users/me", headers=world.headers["globex_admin"]) for _ in range(4)
    ]
    assert [r.status_code for r in tenant_admin] == [200] * 3 + [429]
    assert tenant_admin[0].headers["ratelimit-policy"] == '"api";q=3;w=60'
    refused = tenant_admin[-1]
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused.headers["retry-after"]) >= 1
