"""The audit log through the API (issue 22): each security action leaves exactly one row
with the right actor and target, in its tenant; what a tenant admin, an admin and a user
may read; the filters and their validation; no secret in any row; an action that fails
before its commit leaves no row."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dishka import Provider, Scope, decorate

from tessera.features.audit.application.ports import RequestOrigin
from tessera.features.identity.application.ports import SessionStore
from tessera.main.ioc import make_container
from tessera.shared.domain.errors import DependencyUnavailable
from tests.e2e.harness import settings_for
from tests.e2e.identity.conftest import (
    PASSWORD,
    SECRET,
    Client,
    bearer,
    embedded_client,
    login,
    production_app,
    query,
    register,
)
from tests.e2e.identity.test_auth_flows import error, link_token
from tests.e2e.identity.test_invitations import invite, register_invited
from tests.e2e.world import World, build_world
from tests.unit.files.samples import PDF

AUDIT = "/api/v1/audit-events"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with embedded_client(
        tmp_path,
        rate_limit_enabled="false",
        jwt_secret_key=SECRET,
        webhook_allow_private_targets="true",
    ) as running:
        yield running


async def audit(client: Client, headers: dict[str, str], **filters: str) -> list[dict[str, Any]]:
    response = await client.get(AUDIT, params={"limit": "100", **filters}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def only_row(
    client: Client, headers: dict[str, str], action: str, **filters: str
) -> dict[str, Any]:
    rows = await audit(client, headers, action=action, **filters)
    assert len(rows) == 1, rows
    return rows[0]


async def me(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    return dict((await client.get("/api/v1/users/me", headers=headers)).json()["data"])


async def test_each_security_action_leaves_one_row_with_its_actor_and_target(
    client: Client, tmp_path: Path
) -> None:
    world = await build_world(client)
    boss = world.headers["acme_admin"]
    root = world.headers["admin"]
    boss_id = (await me(client, boss))["user_id"]
    staff = await me(client, world.headers["acme_user"])
    root_id = (await me(client, root))["user_id"]
    said: list[str] = []  # every secret the API handed out or was given

    # sign-in: success (build_world signed everyone in once) and failure
    row = await only_row(client, boss, "user.login.succeeded", target_id=staff["user_id"])
    assert (row["actor_id"], row["target_type"]) == (staff["user_id"], "user")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "staff@acme.test", "password": "not it at all"}
    )
    error(wrong, 401, "UNAUTHORIZED")
    row = await only_row(client, boss, "user.login.failed")
    assert (row["actor_id"], row["target_id"], row["details"]) == (
        None,
        staff["user_id"],
        {"reason": "wrong_password", "method": "password"},
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@acme.test", "password": "whatever it is"}
    )
    error(unknown, 401, "UNAUTHORIZED")
    assert len(await audit(client, root, action="user.login.failed")) == 1  # no tenant: no row

    # password change and reset
    tokens = await login(client, "staff@acme.test")
    said += [tokens["access_token"], tokens["refresh_token"]]
    new = "a fresh passphrase here"
    changed = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": new},
        headers=bearer(tokens),
    )
    assert changed.status_code == 200, changed.text
    row = await only_row(client, boss, "user.password.changed")
    assert (row["actor_id"], row["target_id"]) == (staff["user_id"], staff["user_id"])
    await client.post("/api/v1/auth/password/forgot", json={"email": "staff@acme.test"})
    token = await link_token(tmp_path / "outbox", "reset-password")
    said.append(token)
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    row = await only_row(client, boss, "user.password.reset")
    assert (row["actor_id"], row["target_id"]) == (None, staff["user_id"])

    # sessions: revoke one, log out, log out everywhere
    first = await login(client, "staff@acme.test")
    await login(client, "staff@acme.test")
    sessions = await client.get("/api/v1/auth/sessions", headers=bearer(first))
    other = next(s for s in sessions.json()["data"] if not s["current"])["session_id"]
    revoked = await client.delete(f"/api/v1/auth/sessions/{other}", headers=bearer(first))
    assert revoked.status_code == 200, revoked.text
    row = await only_row(client, boss, "user.session.revoked")
    assert (row["actor_id"], row["target_type"], row["target_id"]) == (
        staff["user_id"],
        "session",
        other,
    )
    assert (await client.post("/api/v1/auth/logout", headers=bearer(first))).status_code == 200
    row = await only_row(client, boss, "user.session.logged_out")
    assert (row["actor_id"], row["target_type"]) == (staff["user_id"], "session")
    third = await login(client, "staff@acme.test")
    everywhere = await client.post("/api/v1/auth/logout-all", headers=bearer(third))
    assert everywhere.status_code == 200, everywhere.text
    row = await only_row(client, boss, "user.session.logged_out_everywhere")
    assert (row["actor_id"], row["target_id"]) == (staff["user_id"], staff["user_id"])

    # role and activation changes, removal
    users = f"/api/v1/users/{staff['user_id']}"
    promoted = await client.patch(users, json={"role": "tenant_admin"}, headers=boss)
    assert promoted.status_code == 200, promoted.text
    row = await only_row(client, boss, "user.updated")
    assert (row["actor_id"], row["target_id"], row["details"]) == (
        boss_id,
        staff["user_id"],
        {"role": "tenant_admin"},
    )
    nothing = await client.patch(users, json={"role": "tenant_admin"}, headers=boss)
    assert nothing.status_code == 200
    assert len(await audit(client, boss, action="user.updated")) == 1  # no change, no row
    removed = await client.delete(users, headers=boss)
    assert removed.status_code == 200, removed.text
    row = await only_row(client, boss, "user.removed")
    assert (row["actor_id"], row["target_id"]) == (boss_id, staff["user_id"])

    # invitations: invite and accept, invite and revoke
    accepted = await invite(client, boss, "new@acme.test")
    token = await link_token(tmp_path / "outbox", "accept-invitation")
    said.append(token)
    joined = await register_invited(client, token)
    assert joined.status_code == 201, joined.text
    row = await only_row(client, boss, "invitation.accepted")
    assert (row["actor_id"], row["target_id"]) == (joined.json()["data"]["user_id"], accepted["id"])
    revoked_one = await invite(client, boss, "gone@acme.test")
    row = await only_row(client, boss, "invitation.created", target_id=revoked_one["id"])
    assert (row["actor_id"], row["target_type"]) == (boss_id, "invitation")
    gone = await client.delete(f"/api/v1/invitations/{revoked_one['id']}", headers=boss)
    assert gone.status_code == 200, gone.text
    row = await only_row(client, boss, "invitation.revoked")
    assert (row["actor_id"], row["target_id"]) == (boss_id, revoked_one["id"])

    # webhook endpoints
    made = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook?key=in-the-url", "events": ["user.created"]},
        headers=boss,
    )
    assert made.status_code == 201, made.text
    hook = made.json()["data"]
    said += [hook["secret"], "in-the-url"]
    path = f"/api/v1/webhooks/{hook['id']}"
    assert (await client.patch(path, json={"enabled": False}, headers=boss)).status_code == 200
    rotated = await client.post(f"{path}/rotate-secret", headers=boss)
    assert rotated.status_code == 200, rotated.text
    said.append(rotated.json()["data"]["secret"])
    assert (await client.delete(path, headers=boss)).status_code == 200
    for action in ("created", "updated", "secret_rotated", "deleted"):
        row = await only_row(client, boss, f"webhook.endpoint.{action}")
        assert (row["actor_id"], row["target_id"]) == (boss_id, hook["id"])
    assert (await only_row(client, boss, "webhook.endpoint.updated"))["details"] == {
        "fields": "enabled"
    }

    # feature flags (global: logged in the acting admin's tenant)
    flags = "/api/v1/admin/feature-flags"
    created = await client.post(flags, json={"key": "beta"}, headers=root)
    assert created.status_code == 201, created.text
    assert (await client.patch(f"{flags}/beta", json={"enabled": True}, headers=root)).is_success
    assert (await client.delete(f"{flags}/beta", headers=root)).is_success
    rows = [
        await only_row(client, root, f"feature_flag.{a}") for a in ("created", "updated", "deleted")
    ]
    assert {(r["actor_id"], r["tenant_id"], r["target_type"]) for r in rows} == {
        (root_id, world.acme, "feature_flag")
    }
    assert len({r["target_id"] for r in rows}) == 1  # the flag's id (the API shows its key)
    assert [r["details"]["flag"] for r in rows] == ["beta"] * 3

    # files: an administrator deleting someone else's, not an uploader its own
    newcomer = bearer(await login(client, "new@acme.test"))
    mine = await client.post("/api/v1/files", files={"file": ("a.pdf", PDF)}, headers=newcomer)
    theirs = await client.post("/api/v1/files", files={"file": ("b.pdf", PDF)}, headers=newcomer)
    assert mine.status_code == theirs.status_code == 201, mine.text
    mine_id, theirs_id = mine.json()["data"]["id"], theirs.json()["data"]["id"]
    assert (await client.delete(f"/api/v1/files/{mine_id}", headers=newcomer)).is_success
    assert (await client.delete(f"/api/v1/files/{theirs_id}", headers=boss)).is_success
    row = await only_row(client, boss, "file.deleted")
    assert (row["actor_id"], row["target_id"]) == (boss_id, theirs_id)

    # never a secret, in the API's answer or in the table itself
    everything = await audit(client, root)
    assert {row["tenant_id"] for row in everything} == {world.acme, world.globex}
    stored = await query(client, "SELECT * FROM audit_events")
    assert len(stored) == len(everything)
    text = repr(everything) + repr(stored)
    for secret in [PASSWORD, new, *said]:
        assert secret not in text


async def test_a_row_says_where_the_request_came_from(client: Client) -> None:
    await register(client)
    agent = {"User-Agent": "AuditBrowser/1.0", "X-Request-ID": "req-audit-42"}
    tokens = await login(client)
    out = await client.post("/api/v1/auth/logout", headers=bearer(tokens) | agent)
    assert out.status_code == 200
    row = await only_row(client, bearer(await login(client)), "user.session.logged_out")
    assert (row["user_agent"], row["request_id"]) == ("AuditBrowser/1.0", "req-audit-42")
    assert row["ip_address"]  # the test client's address


class FailingRevocation(Provider):
    """The session store answers but cannot end a session (Redis went away mid-request)."""

    @decorate(scope=Scope.APP)
    def broken(self, sessions: SessionStore) -> SessionStore:
        class Broken:
            def __getattr__(self, name: str) -> Any:
                return getattr(sessions, name)

            async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
                raise DependencyUnavailable()

        return Broken()


async def test_an_action_that_fails_before_its_commit_leaves_no_row(tmp_path: Path) -> None:
    async with embedded_client(
        tmp_path, FailingRevocation(), rate_limit_enabled="false", jwt_secret_key=SECRET
    ) as client:
        profile = await register(client)
        tokens = await login(client)
        failed = await client.post("/api/v1/auth/logout", headers=bearer(tokens))
        error(failed, 503, "SERVICE_UNAVAILABLE")
        rows = await query(client, "SELECT action FROM audit_events")
        assert [row["action"] for row in rows] == ["user.login.succeeded"]
        listed = await audit(client, bearer(tokens), target_id=profile["user_id"])
        assert [row["action"] for row in listed] == ["user.login.succeeded"]


async def check_reach(client: Client, world: World) -> None:
    acme_admin, globex_admin = world.headers["acme_admin"], world.headers["globex_admin"]
    for headers, tenant in ((acme_admin, world.acme), (globex_admin, world.globex)):
        rows = await audit(client, headers)
        assert rows, "each tenant has its sign-ins"
        assert {row["tenant_id"] for row in rows} == {tenant}
    other = await client.get(AUDIT, params={"tenant_id": world.globex}, headers=acme_admin)
    error(other, 404, "NOT_FOUND")
    own = await audit(client, acme_admin, tenant_id=world.acme)
    assert {row["tenant_id"] for row in own} == {world.acme}
    every = await audit(client, world.headers["admin"])
    assert {row["tenant_id"] for row in every} >= {world.acme, world.globex}
    one = await audit(client, world.headers["admin"], tenant_id=world.globex)
    assert one
    assert {row["tenant_id"] for row in one} == {world.globex}
    user = await client.get(AUDIT, headers=world.headers["acme_user"])
    error(user, 403, "FORBIDDEN")
    nobody = await client.get(AUDIT)
    assert nobody.status_code == 401


async def test_a_tenant_admin_sees_its_own_tenant_only(client: Client) -> None:
    await check_reach(client, await build_world(client))


@pytest.mark.postgres
async def test_a_tenant_admin_sees_its_own_tenant_only_under_row_level_security(
    tmp_path: Path, redis_prefix: str
) -> None:
    async with production_app(tmp_path, redis_prefix, rate_limit_enabled="false") as client:
        await check_reach(client, await build_world(client))


async def test_newest_first_filtered_and_paginated(client: Client) -> None:
    profile = await register(client)
    headers = bearer(await login(client))
    for _ in range(3):
        await login(client)
    rows = await audit(client, headers, actor_id=profile["user_id"])
    assert len(rows) == 4
    moments = [row["occurred_at"] for row in rows]
    assert moments == sorted(moments, reverse=True)
    page = await client.get(AUDIT, params={"limit": "3", "page": "2"}, headers=headers)
    assert page.json()["pagination"]["total_items"] == 4
    assert len(page.json()["data"]) == 1
    oldest = await audit(client, headers, order="asc")
    assert [row["id"] for row in oldest] == [row["id"] for row in reversed(rows)]
    assert await audit(client, headers, since=moments[0]) == rows[:1]
    assert await audit(client, headers, until=moments[-1]) == []
    assert await audit(client, headers, actor_id=str(uuid.uuid4())) == []


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("action", "user.exploded"),
        ("actor_id", "not-a-uuid"),
        ("target_id", "1234"),
        ("tenant_id", "x"),
        ("since", "yesterday"),
        ("until", "2026-13-45T00:00:00Z"),
        ("limit", "101"),
        ("sort", "action"),
        ("colour", "red"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    client: Client, parameter: str, value: str
) -> None:
    await register(client)
    headers = bearer(await login(client))
    answer = await client.get(AUDIT, params={parameter: value}, headers=headers)
    assert error(answer, 400, "VALIDATION_ERROR")


async def test_since_after_until_is_400(client: Client) -> None:
    await register(client)
    headers = bearer(await login(client))
    answer = await client.get(
        AUDIT,
        params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=headers,
    )
    assert error(answer, 400, "VALIDATION_ERROR")["field"] == "since"


async def test_outside_a_request_rows_have_no_origin(tmp_path: Path) -> None:
    """A worker's job or a CLI command opens its container without an HTTP request."""
    container = make_container(settings_for(data_dir=str(tmp_path)))
    try:
        async with container() as work:
            assert await work.get(RequestOrigin) == RequestOrigin()
    finally:
        await container.close()


@pytest.mark.postgres
async def test_rows_are_written_under_row_level_security_in_every_scope(
    tmp_path: Path, redis_prefix: str
) -> None:
    """As the app role on PostgreSQL: a sign-in failure (all-tenants path), an admin acting
    on another tenant (widened scope), a flag (the admin's own tenant) and a logout (the
    caller's tenant) each get their row past the policies' WITH CHECK."""
    async with production_app(
        tmp_path,
        redis_prefix,
        rate_limit_enabled="false",
        webhook_allow_private_targets="true",
        data_encryption_key=base64.b64encode(os.urandom(32)).decode(),
    ) as client:
        world = await build_world(client)
        root = world.headers["admin"]
        staff = await me(client, world.headers["globex_user"])
        wrong = {"email": "staff@globex.test", "password": "not the password"}
        error(await client.post("/api/v1/auth/login", json=wrong), 401, "UNAUTHORIZED")
        patched = await client.patch(
            f"/api/v1/users/{staff['user_id']}", json={"is_active": False}, headers=root
        )
        assert patched.status_code == 200, patched.text
        hook = await client.post(
            "/api/v1/webhooks",
            params={"tenant_id": world.globex},
            json={"url": "http://127.0.0.1:9/hook", "events": ["user.created"]},
            headers=root,
        )
        assert hook.status_code == 201, hook.text
        flag = await client.post("/api/v1/admin/feature-flags", json={"key": "rls"}, headers=root)
        assert flag.status_code == 201, flag.text
        out = await client.post("/api/v1/auth/logout", headers=world.headers["acme_user"])
        assert out.status_code == 200, out.text
        globex = {r["action"] for r in await audit(client, world.headers["globex_admin"])}
        assert {"user.login.failed", "user.updated", "webhook.endpoint.created"} <= globex
        acme = {r["action"] for r in await audit(client, world.headers["acme_admin"])}
        assert {"feature_flag.created", "user.session.logged_out"} <= acme
        assert not {"user.login.failed", "user.updated", "webhook.endpoint.created"} & acme
