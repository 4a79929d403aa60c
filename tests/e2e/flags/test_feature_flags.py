"""SPEC §3.9 through the HTTP API: the admin API, its rules, and `GET /feature-flags`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.e2e.flags.conftest import Caller, caller, error
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing, Client

ADMIN_API = "/api/v1/admin/feature-flags"
EVALUATED = "/api/v1/feature-flags"


async def create(client: Client, admin: Caller, **body: Any) -> dict[str, Any]:
    response = await client.post(ADMIN_API, json={"key": "beta"} | body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def evaluated(client: Client, who: Caller) -> dict[str, bool]:
    response = await client.get(EVALUATED, headers=who.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "success"
    return dict(response.json()["data"])


async def test_an_admin_creates_reads_changes_and_deletes_a_flag(
    client: Client, admin: Caller
) -> None:
    member = str(uuid.uuid4())
    created = await client.post(
        ADMIN_API,
        json={"key": "new-dashboard", "description": "The new dashboard", "user_ids": [member]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "Feature flag created."
    flag = created.json()["data"]
    assert flag | {"created_at": None, "updated_at": None} == {
        "key": "new-dashboard",
        "description": "The new dashboard",
        "enabled": False,
        "rollout_percentage": 0,
        "tenant_ids": [],
        "user_ids": [member],
        "created_at": None,
        "updated_at": None,
    }

    read = await client.get(f"{ADMIN_API}/new-dashboard", headers=admin.headers)
    assert read.status_code == 200
    assert read.json()["data"] == flag

    tenant = str(uuid.uuid4())
    changes = {"enabled": True, "rollout_percentage": 30, "tenant_ids": [tenant]}
    patched = await client.patch(f"{ADMIN_API}/new-dashboard", json=changes, headers=admin.headers)
    assert patched.status_code == 200, patched.text
    after = patched.json()["data"]
    assert after["enabled"] is True
    assert after["rollout_percentage"] == 30
    assert after["tenant_ids"] == [tenant]
    assert (after["description"], after["user_ids"]) == ("The new dashboard", [member])
    assert after["updated_at"] >= flag["updated_at"]
    assert after["created_at"] == flag["created_at"]

    listed = await client.get(ADMIN_API, headers=admin.headers)
    assert listed.status_code == 200
    assert listed.json()["data"] == [after]
    assert listed.json()["pagination"]["total_items"] == 1

    deleted = await client.delete(f"{ADMIN_API}/new-dashboard", headers=admin.headers)
    assert deleted.status_code == 200
    assert deleted.json()["message"] == "Feature flag deleted."
    error(await client.get(f"{ADMIN_API}/new-dashboard", headers=admin.headers), 404, "NOT_FOUND")
    assert (await client.get(ADMIN_API, headers=admin.headers)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "beta", "rollout_percentage": 101}, "rollout_percentage"),
        ({"key": "beta", "rollout_percentage": -1}, "rollout_percentage"),
        ({"key": "beta", "rollout_percentage": 12.5}, "rollout_percentage"),
        ({"key": "Beta"}, "key"),
        ({"key": "new dashboard"}, "key"),
        ({"key": "-beta"}, "key"),
        ({"key": "x" * 65}, "key"),
        ({"description": "no key"}, "key"),
        ({"key": "beta", "owner": "me"}, "owner"),
        ({"key": "beta", "enabled": "yes"}, "enabled"),
        ({"key": "beta", "user_ids": ["not-a-uuid"]}, "user_ids[0]"),
        ({"key": "beta", "description": "x" * 501}, "description"),
    ],
)
async def test_invalid_new_flags_are_validation_errors_naming_the_field(
    client: Client, admin: Caller, body: dict[str, Any], field: str
) -> None:
    response = await client.post(ADMIN_API, json=body, headers=admin.headers)
    assert error(response, 400, "VALIDATION_ERROR").get("field") == field
    assert (await client.get(ADMIN_API, headers=admin.headers)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rollout_percentage": 101}, "rollout_percentage"),
        ({"key": "renamed"}, "key"),
        ({"enabled": None}, "enabled"),
        ({"tenant_ids": "all"}, "tenant_ids"),
    ],
)
async def test_invalid_changes_are_validation_errors_and_change_nothing(
    client: Client, admin: Caller, body: dict[str, Any], field: str
) -> None:
    before = await create(client, admin, rollout_percentage=10)
    response = await client.patch(f"{ADMIN_API}/beta", json=body, headers=admin.headers)
    assert error(response, 400, "VALIDATION_ERROR").get("field") == field
    assert (await client.get(f"{ADMIN_API}/beta", headers=admin.headers)).json()["data"] == before


async def test_a_taken_key_is_a_conflict(client: Client, admin: Caller) -> None:
    await create(client, admin, description="first")
    again = await client.post(
        ADMIN_API, json={"key": "beta", "enabled": True}, headers=admin.headers
    )
    assert error(again, 409, "CONFLICT")["field"] == "key"
    kept = (await client.get(f"{ADMIN_API}/beta", headers=admin.headers)).json()["data"]
    assert (kept["description"], kept["enabled"]) == ("first", False)


@pytest.mark.parametrize("key", ["missing", "NOT-A-KEY"])
async def test_a_missing_flag_is_not_found(client: Client, admin: Caller, key: str) -> None:
    path = f"{ADMIN_API}/{key}"
    error(await client.get(path, headers=admin.headers), 404, "NOT_FOUND")
    error(await client.patch(path, json={"enabled": True}, headers=admin.headers), 404, "NOT_FOUND")
    error(await client.delete(path, headers=admin.headers), 404, "NOT_FOUND")


async def test_keys_with_dots_dashes_and_underscores_work_in_paths(
    client: Client, admin: Caller
) -> None:
    for key in ("checkout.v2", "beta_search-2"):
        await create(client, admin, key=key)
        path = f"{ADMIN_API}/{key}"
        assert (await client.get(path, headers=admin.headers)).json()["data"]["key"] == key
        changed = await client.patch(path, json={"enabled": True}, headers=admin.headers)
        assert changed.json()["data"]["enabled"] is True
        assert (await client.delete(path, headers=admin.headers)).status_code == 200


ADMIN_ROUTES = [
    ("GET", ADMIN_API, None),
    ("POST", ADMIN_API, {"key": "mine", "enabled": True}),
    ("POST", ADMIN_API, {"key": "NOT VALID", "rollout_percentage": 900}),
    ("GET", f"{ADMIN_API}/beta", None),
    ("PATCH", f"{ADMIN_API}/beta", {"enabled": False}),
    ("PATCH", f"{ADMIN_API}/beta", {"unknown": 1}),
    ("DELETE", f"{ADMIN_API}/beta", None),
    ("GET", f"{ADMIN_API}/missing", None),
]


@pytest.mark.parametrize("role", ["user", "tenant_admin"])
async def test_only_an_admin_may_use_the_admin_api(
    client: Client, admin: Caller, role: str
) -> None:
    flag = await create(client, admin, enabled=True, rollout_percentage=100)
    other = await caller(client, f"{role}@example.com", role)
    for method, path, body in ADMIN_ROUTES:
        response = await client.request(method, path, json=body, headers=other.headers)
        error(response, 403, "FORBIDDEN")  # never 400 or 404: nothing is revealed
    listed = (await client.get(ADMIN_API, headers=admin.headers)).json()["data"]
    assert listed == [flag]  # nothing was created, changed or deleted
    assert await evaluated(client, other) == {"beta": True}  # yet they may read their answers


async def test_without_a_valid_token_every_route_is_unauthorized(
    client: Client, admin: Caller
) -> None:
    await create(client, admin)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        for method, path, body in [*ADMIN_ROUTES, ("GET", EVALUATED, None)]:
            response = await client.request(method, path, json=body, headers=headers)
            error(response, 401, "UNAUTHORIZED")
    assert len((await client.get(ADMIN_API, headers=admin.headers)).json()["data"]) == 1


async def test_the_callers_flags_follow_every_change_at_once(client: Client, admin: Caller) -> None:
    user = await caller(client, "user@example.com", "user")
    neighbour = await caller(client, "neighbour@example.com", "user")
    assert await evaluated(client, user) == {}
    await create(client, admin, enabled=True, user_ids=[user.user_id])
    await create(client, admin, key="tenant-beta", enabled=True, tenant_ids=[user.tenant_id])
    assert await evaluated(client, user) == {"beta": True, "tenant-beta": True}
    assert await evaluated(client, neighbour) == {"beta": False, "tenant-beta": False}

    off = await client.patch(f"{ADMIN_API}/beta", json={"enabled": False}, headers=admin.headers)
    assert off.status_code == 200
    assert await evaluated(client, user) == {"beta": False, "tenant-beta": True}

    everyone = {"enabled": True, "rollout_percentage": 100}
    await client.patch(f"{ADMIN_API}/beta", json=everyone, headers=admin.headers)
    assert await evaluated(client, neighbour) == {"beta": True, "tenant-beta": False}

    await client.delete(f"{ADMIN_API}/tenant-beta", headers=admin.headers)
    assert await evaluated(client, user) == {"beta": True}


async def test_the_list_pages_sorts_and_filters(client: Client, admin: Caller) -> None:
    for key in ("gamma", "alpha", "beta_search", "betaxsearch"):
        await create(client, admin, key=key, enabled=key != "gamma")
    response = await client.get(
        ADMIN_API,
        params={"limit": 2, "page": 2, "sort": "key", "order": "asc"},
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert [flag["key"] for flag in response.json()["data"]] == ["betaxsearch", "gamma"]
    assert response.json()["pagination"] == {
        "page": 2,
        "limit": 2,
        "total_items": 4,
        "total_pages": 2,
        "has_next": False,
        "has_prev": True,
    }
    newest = await client.get(ADMIN_API, headers=admin.headers)  # created_at desc by default
    assert [flag["key"] for flag in newest.json()["data"]] == [
        "betaxsearch",
        "beta_search",
        "alpha",
        "gamma",
    ]
    filtered = await client.get(
        ADMIN_API,
        params={"enabled": "true", "search": "beta_", "sort": "key", "order": "asc"},
        headers=admin.headers,
    )
    assert [flag["key"] for flag in filtered.json()["data"]] == ["beta_search"]
    for params, field in (({"limit": 101}, "limit"), ({"sort": "description"}, "sort")):
        response = await client.get(ADMIN_API, params=params, headers=admin.headers)
        assert error(response, 400, "VALIDATION_ERROR")["field"] == field


async def test_the_openapi_document_describes_the_flag_endpoints(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert set(paths["/api/v1/admin/feature-flags"]) == {"get", "post"}
    assert set(paths["/api/v1/admin/feature-flags/{key}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/feature-flags"]) == {"get"}
    assert "201" in paths["/api/v1/admin/feature-flags"]["post"]["responses"]
    listed = paths["/api/v1/admin/feature-flags"]["get"]["parameters"]
    assert {"page", "limit", "sort", "order", "enabled", "search"} <= {p["name"] for p in listed}
    new_flag = schemas["NewFlag"]
    assert new_flag["required"] == ["key"]
    assert new_flag["properties"]["key"]["pattern"] == "^[a-z0-9][a-z0-9_.-]{0,63}$"
    rollout = new_flag["properties"]["rollout_percentage"]
    assert (rollout["minimum"], rollout["maximum"], rollout["default"]) == (0, 100, 0)
    assert "key" not in schemas["FlagChanges"]["properties"]


@pytest.mark.slow
async def test_on_postgresql_and_redis_another_api_process_sees_a_change_within_a_second(
    tmp_path: Path, redis_prefix: str
) -> None:
    async with services.throwaway_database() as url:
        await services.migrate(url)
        settings = settings_for(
            database_url=url,
            redis_url=services.TEST_REDIS_URL,
            redis_key_prefix=redis_prefix,
            data_dir=str(tmp_path),
            rate_limit_enabled="false",
            jwt_secret_key=SECRET,
        )
        async with (
            client_for(settings, CheapHashing()) as first,
            client_for(settings, CheapHashing()) as second,
        ):
            admin = await caller(first, "admin@example.com", "admin")
            user = await caller(first, "user@example.com", "user")
            await create(first, admin, enabled=True, user_ids=[user.user_id])
            assert await evaluated(second, user) == {"beta": True}  # its snapshot is warm
            off = await first.patch(
                f"{ADMIN_API}/beta", json={"enabled": False}, headers=admin.headers
            )
            assert off.status_code == 200
            assert await evaluated(first, user) == {"beta": False}  # at once where it changed
            loop = asyncio.get_running_loop()
            started = loop.time()
            while (await evaluated(second, user))["beta"]:
                assert loop.time() - started < 1.5, "the other process kept its old snapshot"
                await asyncio.sleep(0.05)


async def test_a_change_that_changes_nothing_leaves_updated_at(
    client: Client, admin: Caller
) -> None:
    flag = await create(client, admin, rollout_percentage=10)
    path = f"{ADMIN_API}/beta"
    same = {key: flag[key] for key in ("description", "enabled", "rollout_percentage")}
    for change in ({}, same, {"tenant_ids": flag["tenant_ids"]}):
        response = await client.patch(path, json=change, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["updated_at"] == flag["updated_at"], change
    changed = await client.patch(path, json={"rollout_percentage": 11}, headers=admin.headers)
    assert changed.json()["data"]["updated_at"] != flag["updated_at"]
