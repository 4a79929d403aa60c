"""SPEC §3.5 admin users API through the real app: reach across tenants and roles, the
list's filters, sorting and paging, changes and their effect on the target's next request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests import services
from tests.e2e.harness import app_settings
from tests.e2e.identity.conftest import Client, bearer, login, register

USERS = "/api/v1/users"


@dataclass
class Person:
    email: str
    user_id: str
    tenant_id: str
    headers: dict[str, str]


@dataclass
class World:
    root: Person  # admin, in a tenant of its own
    a_admin: Person  # tenant_admin of tenant A
    a_user: Person
    b_admin: Person
    b_user: Person


async def sql(client: Client, statement: str, **params: Any) -> None:
    """Run SQL on the app's database. The app's engine belongs to the client's event loop,
    so an engine on its URL is made for this loop."""
    engine = create_async_engine(services.as_owner((await app_settings(client)).database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


async def person(client: Client, email: str) -> Person:
    headers = bearer(await login(client, email))
    me = (await client.get("/api/v1/users/me", headers=headers)).json()["data"]
    return Person(email, me["user_id"], me["tenant_id"], headers)


async def join_as_user(client: Client, email: str, admin_email: str, full_name: str) -> None:
    """A member of the admin's tenant with role `user` (invitations do not exist yet)."""
    await register(client, email, full_name=full_name)
    await sql(
        client,
        "UPDATE users SET role = 'user', tenant_id = "
        "(SELECT tenant_id FROM users WHERE email = :admin) WHERE email = :email",
        admin=admin_email,
        email=email,
    )


async def build_world(client: Client) -> World:
    await register(client, "root@example.com", full_name="Root Operator")
    await sql(
        client,
        "UPDATE users SET role = 'admin', is_verified = true WHERE email = :e",
        e="root@example.com",
    )
    for tenant in ("a", "b"):
        await register(client, f"{tenant}-admin@example.com", full_name=f"{tenant.upper()} Boss")
        await join_as_user(
            client,
            f"{tenant}-user@example.com",
            f"{tenant}-admin@example.com",
            f"{tenant.upper()} Worker",
        )
    people = [
        await person(client, f"{name}@example.com")
        for name in ("root", "a-admin", "a-user", "b-admin", "b-user")
    ]
    return World(*people)


@pytest.fixture
async def world(client: Client) -> World:
    return await build_world(client)


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    assert "data" not in body
    return dict(body["error"])


async def listed(client: Client, who: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(USERS, headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def emails(body: dict[str, Any]) -> list[str]:
    return [user["email"] for user in body["data"]]


async def assert_isolated(client: Client, w: World) -> None:
    """A's admin and A's user reach nothing of B, by any endpoint; B's data never shows."""
    for target in (w.b_admin, w.b_user):
        url = f"{USERS}/{target.user_id}"
        error(await client.get(url, headers=w.a_admin.headers), 404, "NOT_FOUND")
        error(
            await client.patch(url, headers=w.a_admin.headers, json={"full_name": "Pwned"}),
            404,
            "NOT_FOUND",
        )
        error(await client.delete(url, headers=w.a_admin.headers), 404, "NOT_FOUND")
        error(await client.get(url, headers=w.a_user.headers), 403, "FORBIDDEN")
        error(
            await client.patch(url, headers=w.a_user.headers, json={"full_name": "Pwned"}),
            403,
            "FORBIDDEN",
        )
        error(await client.delete(url, headers=w.a_user.headers), 403, "FORBIDDEN")
    error(await client.get(USERS, headers=w.a_user.headers), 403, "FORBIDDEN")
    other_tenant = {"tenant_id": w.b_admin.tenant_id}
    error(await client.get(USERS, headers=w.a_admin.headers, params=other_tenant), 403, "FORBIDDEN")
    own = await listed(client, w.a_admin, limit=100)
    assert sorted(emails(own)) == ["a-admin@example.com", "a-user@example.com"]
    assert {user["tenant_id"] for user in own["data"]} == {w.a_admin.tenant_id}
    # nothing of B changed
    b_view = await listed(client, w.b_admin)
    assert sorted(emails(b_view)) == ["b-admin@example.com", "b-user@example.com"]
    assert "Pwned" not in {user["full_name"] for user in b_view["data"]}
    assert (await client.get("/api/v1/users/me", headers=w.b_user.headers)).status_code == 200


async def test_another_tenant_is_out_of_reach_for_every_endpoint_and_role(
    client: Client, world: World
) -> None:
    await assert_isolated(client, world)


async def test_another_tenant_is_out_of_reach_on_postgresql_and_redis(
    production_client: Client,
) -> None:
    await assert_isolated(production_client, await build_world(production_client))


async def test_no_token_is_401_and_a_plain_user_is_403_even_on_its_own_tenant(
    client: Client, world: World
) -> None:
    url = f"{USERS}/{world.a_admin.user_id}"
    for method, target in (("GET", USERS), ("GET", url), ("PATCH", url), ("DELETE", url)):
        body = {"full_name": "X"} if method == "PATCH" else None
        error(await client.request(method, target, json=body), 401, "UNAUTHORIZED")
        error(
            await client.request(method, target, headers=world.a_user.headers, json=body),
            403,
            "FORBIDDEN",
        )
    own = f"{USERS}/{world.a_user.user_id}"
    error(await client.get(own, headers=world.a_user.headers), 403, "FORBIDDEN")


async def test_an_admin_sees_every_tenant_and_can_narrow_to_one(
    client: Client, world: World
) -> None:
    everyone = await listed(client, world.root)
    assert everyone["pagination"]["total_items"] == 5
    only_b = await listed(client, world.root, tenant_id=world.b_admin.tenant_id)
    assert sorted(emails(only_b)) == ["b-admin@example.com", "b-user@example.com"]
    one = await client.get(f"{USERS}/{world.b_user.user_id}", headers=world.root.headers)
    assert one.status_code == 200
    data = one.json()["data"]
    assert data["email"] == "b-user@example.com"
    assert data["role"] == "user"
    assert data["tenant_id"] == world.b_admin.tenant_id
    assert data["is_active"] is True
    me = (await client.get("/api/v1/users/me", headers=world.b_user.headers)).json()["data"]
    assert set(data) == set(me)


async def test_list_filters_by_role_activity_verification_and_time(
    client: Client, world: World
) -> None:
    assert sorted(emails(await listed(client, world.root, role="user"))) == [
        "a-user@example.com",
        "b-user@example.com",
    ]
    assert emails(await listed(client, world.root, is_verified="true")) == ["root@example.com"]
    assert len(emails(await listed(client, world.root, is_verified="false"))) == 4
    await client.patch(
        f"{USERS}/{world.b_user.user_id}", headers=world.root.headers, json={"is_active": False}
    )
    assert emails(await listed(client, world.root, is_active="false")) == ["b-user@example.com"]
    assert len(emails(await listed(client, world.root, is_active="true"))) == 4
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert emails(await listed(client, world.root, created_after=future)) == []
    assert len(emails(await listed(client, world.root, created_after=past))) == 5
    assert emails(await listed(client, world.root, created_before=past)) == []
    error(
        await client.get(USERS, headers=world.root.headers, params={"role": "owner"}),
        400,
        "VALIDATION_ERROR",
    )


async def test_search_is_case_insensitive_and_takes_wildcards_literally(
    client: Client, world: World
) -> None:
    await register(client, "percent@example.com", full_name="Ann 100% Real")
    await register(client, "under@example.com", full_name="Bob_Smith")
    await register(client, "plain@example.com", full_name="Carl Bobsmith")
    assert emails(await listed(client, world.root, search="%")) == ["percent@example.com"]
    assert emails(await listed(client, world.root, search="b_s")) == ["under@example.com"]
    assert emails(await listed(client, world.root, search="100%")) == ["percent@example.com"]
    assert sorted(emails(await listed(client, world.root, search="BOBSMITH"))) == [
        "plain@example.com"
    ]
    assert emails(await listed(client, world.root, search="ROOT@EXAMPLE")) == ["root@example.com"]
    assert sorted(emails(await listed(client, world.root, search="a-"))) == [
        "a-admin@example.com",
        "a-user@example.com",
    ]


async def test_list_sorts_pages_and_refuses_a_limit_over_100(client: Client, world: World) -> None:
    ascending = await listed(client, world.root, sort="email", order="asc")
    assert emails(ascending) == sorted(emails(ascending))
    descending = await listed(client, world.root, sort="full_name", order="desc")
    names = [user["full_name"] for user in descending["data"]]
    assert names == sorted(names, reverse=True)
    pages = [
        await listed(client, world.root, sort="email", order="asc", limit=2, page=n)
        for n in (1, 2, 3)
    ]
    assert [email for p in pages for email in emails(p)] == emails(ascending)
    assert pages[0]["pagination"] == {
        "page": 1,
        "limit": 2,
        "total_items": 5,
        "total_pages": 3,
        "has_next": True,
        "has_prev": False,
    }
    assert pages[2]["pagination"]["has_next"] is False
    assert pages[2]["pagination"]["has_prev"]
    newest_first = await listed(client, world.root)
    times = [user["created_at"] for user in newest_first["data"]]
    assert times == sorted(times, reverse=True)
    refused = (
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"sort": "password_hash"}, "sort"),
        ({"order": "up"}, "order"),
    )
    for params, field in refused:
        response = await client.get(USERS, headers=world.root.headers, params=params)
        assert error(response, 400, "VALIDATION_ERROR").get("field") == field


async def test_patch_changes_role_activity_and_name_and_refuses_other_fields(
    client: Client, world: World
) -> None:
    url = f"{USERS}/{world.a_user.user_id}"
    body = {"full_name": "  Anna   Worker ", "role": "tenant_admin"}
    response = await client.patch(url, headers=world.a_admin.headers, json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["full_name"] == "Anna Worker"
    assert data["role"] == "tenant_admin"
    for body, field in (
        ({"email": "x@example.com"}, "email"),
        ({"tenant_id": "x"}, "tenant_id"),
        ({"role": "owner"}, "role"),
    ):
        assert (
            error(
                await client.patch(url, headers=world.a_admin.headers, json=body),
                400,
                "VALIDATION_ERROR",
            ).get("field")
            == field
        )
    again = await client.get(url, headers=world.a_admin.headers)
    assert again.json()["data"]["full_name"] == "Anna Worker"


async def test_a_tenant_admin_can_neither_grant_admin_nor_touch_an_admin(
    client: Client, world: World
) -> None:
    url = f"{USERS}/{world.a_user.user_id}"
    error(
        await client.patch(url, headers=world.a_admin.headers, json={"role": "admin"}),
        403,
        "FORBIDDEN",
    )
    await sql(client, "UPDATE users SET role = 'admin' WHERE email = 'a-user@example.com'")
    error(
        await client.patch(url, headers=world.a_admin.headers, json={"full_name": "X"}),
        403,
        "FORBIDDEN",
    )
    error(
        await client.patch(url, headers=world.a_admin.headers, json={"role": "user"}),
        403,
        "FORBIDDEN",
    )
    error(await client.delete(url, headers=world.a_admin.headers), 403, "FORBIDDEN")
    assert (await client.get(url, headers=world.a_admin.headers)).json()["data"]["role"] == "admin"
    granted = await client.patch(
        f"{USERS}/{world.b_user.user_id}", headers=world.root.headers, json={"role": "admin"}
    )
    assert granted.status_code == 200
    assert granted.json()["data"]["role"] == "admin"


async def test_nobody_demotes_deactivates_or_deletes_themselves_here(
    client: Client, world: World
) -> None:
    for who in (world.a_admin, world.root):
        url = f"{USERS}/{who.user_id}"
        error(await client.patch(url, headers=who.headers, json={"role": "user"}), 409, "CONFLICT")
        error(
            await client.patch(url, headers=who.headers, json={"is_active": False}), 409, "CONFLICT"
        )
        error(await client.delete(url, headers=who.headers), 409, "CONFLICT")
        renamed = await client.patch(url, headers=who.headers, json={"full_name": "Still Me"})
        assert renamed.status_code == 200
        assert (await client.get(USERS, headers=who.headers)).status_code == 200


async def test_a_demoted_admins_existing_token_is_downgraded_at_once(
    client: Client, world: World
) -> None:
    assert (await client.get(USERS, headers=world.a_admin.headers)).status_code == 200
    response = await client.patch(
        f"{USERS}/{world.a_admin.user_id}", headers=world.root.headers, json={"role": "user"}
    )
    assert response.status_code == 200
    error(await client.get(USERS, headers=world.a_admin.headers), 403, "FORBIDDEN")
    me = await client.get("/api/v1/users/me", headers=world.a_admin.headers)
    assert me.json()["data"]["role"] == "user"
    promoted = await client.patch(
        f"{USERS}/{world.b_user.user_id}",
        headers=world.b_admin.headers,
        json={"role": "tenant_admin"},
    )
    assert promoted.status_code == 200
    assert (await client.get(USERS, headers=world.b_user.headers)).status_code == 200


async def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_until_reactivated(
    client: Client, world: World
) -> None:
    tokens = await login(client, world.a_user.email)
    assert (await client.get("/api/v1/users/me", headers=world.a_user.headers)).status_code == 200
    url = f"{USERS}/{world.a_user.user_id}"
    off = await client.patch(url, headers=world.a_admin.headers, json={"is_active": False})
    assert off.status_code == 200
    assert off.json()["data"]["is_active"] is False
    error(await client.get("/api/v1/users/me", headers=world.a_user.headers), 401, "UNAUTHORIZED")
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    error(refreshed, 401, "UNAUTHORIZED")
    body = {"email": world.a_user.email, "password": "correct horse battery"}
    error(await client.post("/api/v1/auth/login", json=body), 403, "FORBIDDEN")
    on = await client.patch(url, headers=world.a_admin.headers, json={"is_active": True})
    assert on.status_code == 200
    assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200


async def test_a_deleted_user_disappears_and_its_token_stops_working(
    client: Client, world: World
) -> None:
    url = f"{USERS}/{world.a_user.user_id}"
    response = await client.delete(url, headers=world.a_admin.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    error(await client.get(url, headers=world.a_admin.headers), 404, "NOT_FOUND")
    error(await client.get(url, headers=world.root.headers), 404, "NOT_FOUND")
    error(
        await client.patch(url, headers=world.root.headers, json={"full_name": "Z"}),
        404,
        "NOT_FOUND",
    )
    error(await client.delete(url, headers=world.root.headers), 404, "NOT_FOUND")
    assert world.a_user.email not in emails(await listed(client, world.root))
    error(await client.get("/api/v1/users/me", headers=world.a_user.headers), 401, "UNAUTHORIZED")
    body = {"email": world.a_user.email, "password": "correct horse battery"}
    error(await client.post("/api/v1/auth/login", json=body), 401, "UNAUTHORIZED")
