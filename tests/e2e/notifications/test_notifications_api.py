"""Stored notifications (SPEC §3.7) through the real app: the inbox, read marks, admin
publishing with its reach per role, and security events; on SQLite, and once on PostgreSQL
under row-level security with Redis.

Every sign-in of `build_world` is a new device, so each of its users also gets a security
notification, from a background job; `inbox` therefore lists announcements only, and the
tests that count everything wait for those first (`settled`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.e2e.identity.conftest import (
    PASSWORD,
    Client,
    bearer,
    client,
    login,
    production_client,
    register,
)
from tests.e2e.world import World, build_world

NOTIFICATIONS = "/api/v1/notifications"
SIGN_IN = "New sign-in to your account"

__all__ = ["client", "production_client"]


async def publish(client: Client, world: World, who: str, **body: Any) -> Any:
    return await client.post(
        NOTIFICATIONS,
        json={"title": "Hello", "body": "Hi there."} | body,
        headers=world.headers[who],
    )


async def published(client: Client, world: World, who: str, **body: Any) -> dict[str, Any]:
    response = await publish(client, world, who, **body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def listed(client: Client, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    response = await client.get(NOTIFICATIONS, params=query, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def inbox(client: Client, headers: dict[str, str], **query: Any) -> list[str]:
    """The titles of the announcements listed (security notifications left out)."""
    found = await listed(client, headers, **query)
    return [item["title"] for item in found if item["kind"] == "announcement"]


async def settled(client: Client, headers: dict[str, str], count: int) -> list[str]:
    """Every title, once the inbox holds `count` (security ones come from a job)."""
    deadline = asyncio.get_running_loop().time() + 10
    while len(found := await listed(client, headers)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"inbox still {found}"
        await asyncio.sleep(0.05)
    return [item["title"] for item in found]


async def user_id(client: Client, headers: dict[str, str]) -> str:
    return str((await client.get("/api/v1/users/me", headers=headers)).json()["data"]["user_id"])


async def test_each_reader_sees_its_own_its_tenants_and_global_notifications(
    client: Client,
) -> None:
    world = await build_world(client)
    acme_user = await user_id(client, world.headers["acme_user"])
    await published(client, world, "admin", title="everyone", **{"global": True})
    await published(client, world, "admin", title="acme", tenant_id=world.acme)
    note = await published(client, world, "admin", title="acme user", user_id=acme_user)
    await published(client, world, "admin", title="globex", tenant_id=world.globex)
    assert note["user_id"] == acme_user
    assert note["read"] is False
    assert await inbox(client, world.headers["acme_user"]) == ["acme user", "acme", "everyone"]
    assert await inbox(client, world.headers["acme_admin"]) == ["acme", "everyone"]
    assert await inbox(client, world.headers["globex_user"]) == ["globex", "everyone"]
    assert await inbox(client, world.headers["acme_user"], order="asc") == [
        "everyone",
        "acme",
        "acme user",
    ]


async def test_read_marks_are_per_user_idempotent_and_feed_the_unread_filter(
    client: Client,
) -> None:
    world = await build_world(client)
    note = await published(client, world, "admin", title="acme", tenant_id=world.acme)
    await published(client, world, "admin", title="later", tenant_id=world.acme)
    mark = f"{NOTIFICATIONS}/{note['id']}/read"
    for _ in range(2):
        response = await client.post(mark, headers=world.headers["acme_user"])
        assert response.status_code == 200, response.text
    found = await listed(client, world.headers["acme_user"])
    marks = [(item["title"], item["read"]) for item in found if item["kind"] == "announcement"]
    assert marks == [("later", False), ("acme", True)]
    assert await inbox(client, world.headers["acme_user"], unread="true") == ["later"]
    assert await inbox(client, world.headers["acme_user"], unread="false") == ["acme"]
    assert await inbox(client, world.headers["acme_admin"], unread="true") == ["later", "acme"]


async def test_a_notification_out_of_reach_or_unknown_is_not_found(client: Client) -> None:
    world = await build_world(client)
    note = await published(client, world, "admin", title="acme", tenant_id=world.acme)
    for path in (f"{NOTIFICATIONS}/{note['id']}/read", f"{NOTIFICATIONS}/{uuid.uuid4()}/read"):
        response = await client.post(path, headers=world.headers["globex_user"])
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert await inbox(client, world.headers["globex_user"]) == []


async def test_a_tenant_admin_reaches_its_tenant_and_its_users_only(client: Client) -> None:
    world = await build_world(client)
    acme_user = await user_id(client, world.headers["acme_user"])
    globex_user = await user_id(client, world.headers["globex_user"])
    assert (await publish(client, world, "acme_admin", tenant_id=world.acme)).status_code == 201
    assert (await publish(client, world, "acme_admin", user_id=acme_user)).status_code == 201
    for target in (
        {"tenant_id": world.globex},
        {"user_id": globex_user},
        {"user_id": str(uuid.uuid4())},
    ):
        response = await publish(client, world, "acme_admin", **target)
        assert response.status_code == 404, response.text
    everyone = await publish(client, world, "acme_admin", **{"global": True})
    assert everyone.status_code == 403
    assert await inbox(client, world.headers["globex_user"]) == []


async def test_an_admin_reaches_every_tenant_but_not_one_that_does_not_exist(
    client: Client,
) -> None:
    world = await build_world(client)
    globex_user = await user_id(client, world.headers["globex_user"])
    assert (await publish(client, world, "admin", user_id=globex_user)).status_code == 201
    missing = await publish(client, world, "admin", tenant_id=str(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "tenant_id"
    assert await inbox(client, world.headers["globex_user"]) == ["Hello"]


async def test_a_user_may_not_publish_even_with_a_bad_body(client: Client) -> None:
    world = await build_world(client)
    for body in ({"global": True}, {"nonsense": 1}):
        response = await client.post(NOTIFICATIONS, json=body, headers=world.headers["acme_user"])
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "t"}, "target"),
        ({"title": "t", "global": True, "tenant_id": "TENANT"}, "target"),
        ({"title": "", "global": True}, "title"),
        ({"title": "x" * 201, "global": True}, "title"),
        ({"title": "   ", "global": True}, "title"),
        ({"title": "t", "body": "b" * 5001, "global": True}, "body"),
        ({"title": "t", "global": True, "priority": "high"}, "priority"),
    ],
    ids=[
        "no-target",
        "two-targets",
        "empty-title",
        "long-title",
        "blank-title",
        "long-body",
        "unknown-field",
    ],
)
async def test_publishing_needs_exactly_one_target_and_a_title(
    client: Client, body: dict[str, Any], field: str
) -> None:
    world = await build_world(client)
    body = {k: world.acme if v == "TENANT" else v for k, v in body.items()}
    response = await client.post(NOTIFICATIONS, json=body, headers=world.headers["admin"])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in (error.get("field") or "") + error["message"]
    assert await inbox(client, world.headers["acme_user"]) == []


async def test_every_endpoint_wants_a_live_session(client: Client) -> None:
    note = f"{NOTIFICATIONS}/{uuid.uuid4()}/read"
    for method, path in (("GET", NOTIFICATIONS), ("POST", note), ("POST", NOTIFICATIONS)):
        response = await client.request(method, path, headers=bearer("not-a-token"))
        assert response.status_code == 401, (method, path)


async def test_the_list_pages_like_every_other_list(client: Client) -> None:
    world = await build_world(client)
    assert await settled(client, world.headers["acme_user"], 1) == [SIGN_IN]
    for number in range(3):
        await published(client, world, "admin", title=f"n{number}", tenant_id=world.acme)
    response = await client.get(
        NOTIFICATIONS, params={"limit": 2, "page": 2}, headers=world.headers["acme_user"]
    )
    body = response.json()
    assert [item["title"] for item in body["data"]] == ["n0", SIGN_IN]
    assert body["pagination"]["total_items"] == 4
    assert body["pagination"]["total_pages"] == 2
    for query in ({"limit": 101}, {"sort": "title"}):
        refused = await client.get(NOTIFICATIONS, params=query, headers=world.headers["admin"])
        assert refused.status_code == 400, query


async def test_a_new_sign_in_and_a_password_change_notify_the_user(client: Client) -> None:
    await register(client, "ann@example.com")
    first = bearer(await login(client, "ann@example.com"))
    assert await settled(client, first, 1) == [SIGN_IN]
    changed = await client.post(
        "/api/v1/auth/password/change",
        headers=first,
        json={"current_password": PASSWORD, "new_password": "another horse battery"},
    )
    assert changed.status_code == 200, changed.text
    assert await settled(client, first, 2) == ["Your password was changed", SIGN_IN]
    again = bearer(await login(client, "ann@example.com", "another horse battery"))
    assert len(await settled(client, again, 2)) == 2  # the same device: no new alert


async def test_on_postgres_under_rls_tenants_see_their_own_and_global_ones(
    production_client: Client,
) -> None:
    client = production_client
    world = await build_world(client)
    acme_user = await user_id(client, world.headers["acme_user"])
    await published(client, world, "admin", title="everyone", **{"global": True})
    note = await published(client, world, "admin", title="ann", user_id=acme_user)
    await published(client, world, "globex_admin", title="globex", tenant_id=world.globex)
    assert await inbox(client, world.headers["acme_user"]) == ["ann", "everyone"]
    assert await inbox(client, world.headers["globex_user"]) == ["globex", "everyone"]
    mark = f"{NOTIFICATIONS}/{note['id']}/read"
    read = await client.post(mark, headers=world.headers["acme_user"])
    assert read.status_code == 200
    assert await inbox(client, world.headers["acme_user"], unread="true") == ["everyone"]
    stolen = await client.post(mark, headers=world.headers["globex_user"])
    assert stolen.status_code == 404
