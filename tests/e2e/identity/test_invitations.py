"""Invitations (SPEC §3.5) through the API: invite, the email, register with the token,
list, revoke; and every way to misuse a token or reach into another tenant."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.identity.conftest import PASSWORD, Client, bearer, login
from tests.e2e.identity.test_auth_flows import error, link_token
from tests.e2e.world import World, build_world

INVITATIONS = "/api/v1/invitations"
REGISTER = "/api/v1/auth/register"


async def invite(
    client: Client, headers: dict[str, str], email: str = "new@acme.test", **fields: Any
) -> dict[str, Any]:
    response = await client.post(INVITATIONS, json={"email": email, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def register_invited(client: Client, token: str, email: str = "new@acme.test") -> Any:
    body = {
        "email": email,
        "password": PASSWORD,
        "full_name": "Newcomer",
        "terms_accepted": True,
        "invitation_token": token,
    }
    return await client.post(REGISTER, json=body)


async def test_an_invited_person_joins_the_tenant_with_the_role(
    client: Client, tmp_path: Path
) -> None:
    world = await build_world(client)
    invitation = await invite(
        client, world.headers["acme_admin"], "New@Acme.test", role="tenant_admin"
    )
    assert invitation["email"] == "new@acme.test"
    assert (invitation["status"], invitation["role"]) == ("pending", "tenant_admin")
    assert invitation["tenant_id"] == world.acme
    assert not {"token", "token_hash"} & set(invitation)
    token = await link_token(tmp_path / "outbox", "accept-invitation")
    joined = await register_invited(client, token)
    assert joined.status_code == 201, joined.text
    user = joined.json()["data"]
    assert (user["tenant_id"], user["role"], user["is_verified"]) == (
        world.acme,
        "tenant_admin",
        True,
    )
    listed = await client.get(INVITATIONS, headers=world.headers["acme_admin"])
    assert [(i["id"], i["status"]) for i in listed.json()["data"]] == [
        (invitation["id"], "accepted")
    ]
    tokens = await login(client, "new@acme.test")
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.json()["data"]["tenant_id"] == world.acme


async def test_the_invitation_email_names_the_tenant_the_inviter_and_the_role(
    client: Client, tmp_path: Path
) -> None:
    world = await build_world(client)
    await invite(client, world.headers["acme_admin"])
    await link_token(tmp_path / "outbox", "accept-invitation")
    texts = [p.read_text() for p in (tmp_path / "outbox").glob("*.eml")]
    (mail,) = [text for text in texts if "accept-invitation" in text]
    assert "To: new@acme.test" in mail
    assert "Acme" in mail
    assert "as user" in mail


async def test_a_token_works_once_and_only_for_its_email(client: Client, tmp_path: Path) -> None:
    world = await build_world(client)
    await invite(client, world.headers["acme_admin"])
    token = await link_token(tmp_path / "outbox", "accept-invitation")
    other_email = await register_invited(client, token, email="someone@else.test")
    error(other_email, 400, "VALIDATION_ERROR")
    assert (await register_invited(client, token)).status_code == 201
    again = await register_invited(client, token, email="second@acme.test")
    assert error(again, 400, "VALIDATION_ERROR")["field"] == "invitation_token"
    forged = await register_invited(client, "not-a-real-token", email="third@acme.test")
    error(forged, 400, "VALIDATION_ERROR")


async def test_two_registrations_racing_with_one_token_make_one_account(
    client: Client, tmp_path: Path
) -> None:
    world = await build_world(client)
    await invite(client, world.headers["acme_admin"])
    token = await link_token(tmp_path / "outbox", "accept-invitation")
    results = await asyncio.gather(*(register_invited(client, token) for _ in range(2)))
    assert sorted(r.status_code for r in results) in ([201, 400], [201, 409])


async def test_a_revoked_or_replaced_invitation_no_longer_works(
    client: Client, tmp_path: Path
) -> None:
    world = await build_world(client)
    first = await invite(client, world.headers["acme_admin"])
    first_token = await link_token(tmp_path / "outbox", "accept-invitation")
    second = await invite(client, world.headers["acme_admin"])  # replaces the first
    await asyncio.sleep(0.2)
    second_token = await link_token(tmp_path / "outbox", "accept-invitation")
    assert second_token != first_token
    error(await register_invited(client, first_token), 400, "VALIDATION_ERROR")
    revoked = await client.delete(
        f"{INVITATIONS}/{second['id']}", headers=world.headers["acme_admin"]
    )
    assert revoked.status_code == 200, revoked.text
    error(await register_invited(client, second_token), 400, "VALIDATION_ERROR")
    statuses = await client.get(INVITATIONS, headers=world.headers["acme_admin"])
    assert {i["id"]: i["status"] for i in statuses.json()["data"]} == {
        first["id"]: "revoked",
        second["id"]: "revoked",
    }


async def test_inviting_an_existing_account_is_a_conflict(client: Client) -> None:
    world = await build_world(client)
    response = await client.post(
        INVITATIONS, json={"email": "staff@globex.test"}, headers=world.headers["acme_admin"]
    )
    error(response, 409, "CONFLICT")


async def test_a_tenant_admin_cannot_invite_an_admin_or_into_another_tenant(
    client: Client,
) -> None:
    world = await build_world(client)
    headers = world.headers["acme_admin"]
    as_admin = await client.post(
        INVITATIONS, json={"email": "x@acme.test", "role": "admin"}, headers=headers
    )
    error(as_admin, 403, "FORBIDDEN")
    elsewhere = await client.post(
        INVITATIONS, json={"email": "x@acme.test", "tenant_id": world.globex}, headers=headers
    )
    error(elsewhere, 404, "NOT_FOUND")
    admin_invites = await invite(
        client, world.headers["admin"], "ops@globex.test", role="admin", tenant_id=world.globex
    )
    assert (admin_invites["tenant_id"], admin_invites["role"]) == (world.globex, "admin")


@pytest.mark.parametrize("who", ["acme_user", "globex_user"])
async def test_users_cannot_invite_list_or_revoke(client: Client, who: str) -> None:
    world = await build_world(client)
    invitation = await invite(client, world.headers["acme_admin"])
    headers = world.headers[who]
    for response in (
        await client.post(INVITATIONS, json={"email": "y@acme.test"}, headers=headers),
        await client.get(INVITATIONS, headers=headers),
        await client.delete(f"{INVITATIONS}/{invitation['id']}", headers=headers),
    ):
        error(response, 403, "FORBIDDEN")


async def test_another_tenants_invitations_are_never_listed_or_revoked(client: Client) -> None:
    world = await build_world(client)
    acme = await invite(client, world.headers["acme_admin"])
    globex_admin = world.headers["globex_admin"]
    listed = await client.get(INVITATIONS, headers=globex_admin)
    assert listed.json()["data"] == []
    filtered = await client.get(INVITATIONS, params={"tenant_id": world.acme}, headers=globex_admin)
    error(filtered, 404, "NOT_FOUND")
    revoke = await client.delete(f"{INVITATIONS}/{acme['id']}", headers=globex_admin)
    error(revoke, 404, "NOT_FOUND")
    everyone = await client.get(INVITATIONS, headers=world.headers["admin"])
    assert [i["id"] for i in everyone.json()["data"]] == [acme["id"]]
    missing = await client.delete(f"{INVITATIONS}/{uuid.uuid4()}", headers=world.headers["admin"])
    error(missing, 404, "NOT_FOUND")


async def test_an_accepted_invitation_cannot_be_revoked(client: Client, tmp_path: Path) -> None:
    world = await build_world(client)
    invitation = await invite(client, world.headers["acme_admin"])
    await register_invited(client, await link_token(tmp_path / "outbox", "accept-invitation"))
    response = await client.delete(
        f"{INVITATIONS}/{invitation['id']}", headers=world.headers["acme_admin"]
    )
    error(response, 409, "CONFLICT")


async def test_bad_invitations_are_refused_with_the_field(client: Client) -> None:
    world = await build_world(client)
    headers = world.headers["acme_admin"]
    for body, field in (
        ({"email": "not-an-email"}, "email"),
        ({"email": "z@acme.test", "role": "owner"}, None),
        ({"email": "z@acme.test", "extra": 1}, None),
    ):
        response = await client.post(INVITATIONS, json=body, headers=headers)
        details = error(response, 400, "VALIDATION_ERROR")
        if field is not None:
            assert details["field"] == field
    body = {
        "email": "w@acme.test",
        "password": PASSWORD,
        "full_name": "W",
        "terms_accepted": True,
        "invitation_token": "any",
        "tenant_name": "Mine",
    }
    with_tenant_name = await client.post(REGISTER, json=body)
    assert error(with_tenant_name, 400, "VALIDATION_ERROR")["field"] == "tenant_name"
    status_filter = await client.get(INVITATIONS, params={"status": "bogus"}, headers=headers)
    error(status_filter, 400, "VALIDATION_ERROR")


@pytest.mark.postgres
@pytest.mark.redis
async def test_invitations_on_postgresql_and_redis(production_client: Client) -> None:
    client = production_client
    world: World = await build_world(client)
    await invite(client, world.headers["acme_admin"], "p@acme.test")
    pending = await client.get(
        INVITATIONS, params={"status": "pending"}, headers=world.headers["acme_admin"]
    )
    assert [i["email"] for i in pending.json()["data"]] == ["p@acme.test"]
    expired = await client.get(
        INVITATIONS, params={"status": "expired"}, headers=world.headers["acme_admin"]
    )
    assert expired.json()["data"] == []
    foreign = await client.get(INVITATIONS, headers=world.headers["globex_admin"])
    assert foreign.json()["data"] == []
