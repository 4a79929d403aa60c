"""Passkey routes over HTTP, in process (the ceremonies themselves run in a real browser:
tests/e2e/browser/test_passkeys.py): the options a client gets, who may list and remove
which passkey, and every malformed or stale body refused with a 400 or 401, never a 500."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.identity.adapters.sql_passkeys import SqlPasskeyRepository
from tessera.features.identity.domain.passkeys import Passkey
from tessera.shared.adapters.database import create_engine
from tests import services
from tests.e2e.harness import app_settings
from tests.e2e.identity.conftest import Client, bearer, login, register
from tests.e2e.world import build_world
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"  # PUBLIC_BASE_URL's default
CHALLENGE = str(uuid.uuid4())  # one never issued


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def store_passkey(client: Client, profile: dict[str, Any], credential_id: bytes) -> str:
    """A passkey as a registration leaves it, written straight into the app's database."""
    engine = create_engine(services.as_owner((await app_settings(client)).database_url))
    passkey = Passkey(
        id=uuid.uuid4(),
        tenant_id=uuid.UUID(profile["tenant_id"]),
        user_id=uuid.UUID(profile["user_id"]),
        credential_id=credential_id,
        public_key=b"\xa5\x01\x02",
        sign_count=0,
        transports=("internal",),
        name="Laptop",
        aaguid=None,
        created_at=datetime.now(UTC),
    )
    try:
        async with AsyncSession(engine) as session:
            await SqlPasskeyRepository(session).add(passkey)
            await session.commit()
    finally:
        await engine.dispose()
    return str(passkey.id)


async def test_registration_options_ask_for_a_discoverable_verified_credential(
    client: Client,
) -> None:
    profile = await register(client)
    tokens = await login(client)
    await store_passkey(client, profile, b"already-mine")
    response = await client.post("/api/v1/auth/passkeys/register/options", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    options = data["options"]
    assert data["expires_in"] == 300
    assert options["rp"]["id"] == "localhost"  # the host of PUBLIC_BASE_URL
    assert options["user"]["name"] == "alice@example.com"
    assert options["user"]["id"] == b64(uuid.UUID(profile["user_id"]).bytes)
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [c["id"] for c in options["excludeCredentials"]] == [b64(b"already-mine")]
    assert len(base64.urlsafe_b64decode(options["challenge"] + "==")) == 32


async def test_sign_in_options_need_no_token_and_name_no_credential(client: Client) -> None:
    first = (await client.post("/api/v1/auth/passkeys/login/options")).json()["data"]
    second = (await client.post("/api/v1/auth/passkeys/login/options")).json()["data"]
    assert first["challenge_id"] != second["challenge_id"]
    assert first["options"]["challenge"] != second["options"]["challenge"]
    assert first["options"].get("allowCredentials", []) == []
    assert first["options"]["rpId"] == "localhost"
    assert first["options"]["userVerification"] == "required"


async def test_registering_and_listing_need_a_bearer(client: Client) -> None:
    for method, path in (
        ("POST", "/api/v1/auth/passkeys/register/options"),
        ("GET", "/api/v1/auth/passkeys"),
        ("DELETE", f"/api/v1/auth/passkeys/{uuid.uuid4()}"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401, (path, response.text)


async def test_a_user_lists_and_removes_their_own_passkeys_and_not_another_users(
    client: Client,
) -> None:
    alice = await register(client)
    bob = await register(client, "bob@example.com")
    alices = bearer(await login(client))
    bobs = bearer(await login(client, "bob@example.com"))
    hers = await store_passkey(client, alice, b"alice-key")
    his = await store_passkey(client, bob, b"bob-key")

    listed = (await client.get("/api/v1/auth/passkeys", headers=alices)).json()["data"]
    assert [(p["id"], p["name"], p["credential_id"]) for p in listed] == [
        (hers, "Laptop", b64(b"alice-key"))
    ]
    assert listed[0]["last_used_at"] is None
    assert (await client.delete(f"/api/v1/auth/passkeys/{his}", headers=alices)).status_code == 404
    assert (
        await client.delete(f"/api/v1/auth/passkeys/{uuid.uuid4()}", headers=alices)
    ).status_code == 404
    removed = await client.delete(f"/api/v1/auth/passkeys/{hers}", headers=alices)
    assert removed.status_code == 200, removed.text
    assert (await client.get("/api/v1/auth/passkeys", headers=alices)).json()["data"] == []
    assert len((await client.get("/api/v1/auth/passkeys", headers=bobs)).json()["data"]) == 1
    again = await client.delete(f"/api/v1/auth/passkeys/{hers}", headers=alices)
    assert again.status_code == 404


def attestation(**response: Any) -> dict[str, Any]:
    body = {"clientDataJSON": b64(b"{}"), "attestationObject": b64(b"\xa0")} | response
    return {"id": b64(b"x"), "rawId": b64(b"x"), "type": "public-key", "response": body}


def assertion(**response: Any) -> dict[str, Any]:
    body = {"clientDataJSON": b64(b"{}"), "authenticatorData": b64(b"a"), "signature": b64(b"s")}
    return {"id": b64(b"x"), "rawId": b64(b"x"), "type": "public-key", "response": body | response}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"credential": attestation()}, "challenge_id"),
        ({"challenge_id": CHALLENGE}, "credential"),
        ({"challenge_id": CHALLENGE, "credential": "not an object"}, "credential"),
        ({"challenge_id": CHALLENGE, "credential": attestation(), "extra": 1}, "extra"),
        ({"challenge_id": "a b", "credential": attestation()}, "challenge_id"),
        ({"challenge_id": CHALLENGE, "credential": attestation(), "name": "x" * 101}, "name"),
        ({"challenge_id": CHALLENGE, "credential": attestation(), "name": "   "}, "name"),
        ({"challenge_id": CHALLENGE, "credential": attestation() | {"type": "password"}}, None),
        (
            {"challenge_id": CHALLENGE, "credential": attestation(clientDataJSON="not base64!")},
            None,
        ),
    ],
)
async def test_a_malformed_registration_body_is_a_400(
    client: Client, body: dict[str, Any], field: str | None
) -> None:
    await register(client)
    tokens = await login(client)
    response = await client.post(
        "/api/v1/auth/passkeys/register/verify", json=body, headers=bearer(tokens)
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert error["field"] == field


async def test_a_registration_that_does_not_verify_is_a_400_and_spends_its_challenge(
    client: Client,
) -> None:
    await register(client)
    headers = bearer(await login(client))
    options = await client.post("/api/v1/auth/passkeys/register/options", headers=headers)
    challenge_id = options.json()["data"]["challenge_id"]
    body = {"challenge_id": challenge_id, "credential": attestation()}
    refused = await client.post("/api/v1/auth/passkeys/register/verify", json=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == "credential"
    spent = await client.post("/api/v1/auth/passkeys/register/verify", json=body, headers=headers)
    assert spent.status_code == 400
    assert spent.json()["error"]["field"] == "challenge_id"


async def test_a_registration_challenge_is_the_users_own(client: Client) -> None:
    await register(client)
    await register(client, "bob@example.com")
    alices = bearer(await login(client))
    bobs = bearer(await login(client, "bob@example.com"))
    options = await client.post("/api/v1/auth/passkeys/register/options", headers=alices)
    body = {"challenge_id": options.json()["data"]["challenge_id"], "credential": attestation()}
    response = await client.post("/api/v1/auth/passkeys/register/verify", json=body, headers=bobs)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "challenge_id"


async def test_sign_in_with_a_stale_challenge_or_an_unknown_passkey_is_refused(
    client: Client,
) -> None:
    stale = {"challenge_id": CHALLENGE, "credential": assertion()}
    response = await client.post("/api/v1/auth/passkeys/login/verify", json=stale)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "challenge_id")
    options = (await client.post("/api/v1/auth/passkeys/login/options")).json()["data"]
    unknown = {"challenge_id": options["challenge_id"], "credential": assertion()}
    response = await client.post("/api/v1/auth/passkeys/login/verify", json=unknown)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "credential",
    [
        "a string",
        [],
        {"id": "x", "rawId": "x", "type": "public-key"},
        assertion(signature=""),
        assertion(userHandle=12),
    ],
)
async def test_a_malformed_sign_in_body_is_a_400(client: Client, credential: Any) -> None:
    body = {"challenge_id": CHALLENGE, "credential": credential}
    response = await client.post("/api/v1/auth/passkeys/login/verify", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def register_passkey(
    client: Client, headers: dict[str, str], authenticator: SoftAuthenticator
) -> dict[str, Any]:
    options = await client.post("/api/v1/auth/passkeys/register/options", headers=headers)
    data = options.json()["data"]
    body = {
        "challenge_id": data["challenge_id"],
        "credential": authenticator.create(data["options"]),
    }
    added = await client.post("/api/v1/auth/passkeys/register/verify", json=body, headers=headers)
    assert added.status_code == 201, added.text
    return dict(added.json()["data"])


async def passkey_sign_in(
    client: Client, authenticator: SoftAuthenticator, *, origin: str | None = None
) -> httpx.Response:
    options = (await client.post("/api/v1/auth/passkeys/login/options")).json()["data"]
    credential = authenticator.get(options["options"], origin=origin)
    body = {"challenge_id": options["challenge_id"], "credential": credential}
    return await client.post("/api/v1/auth/passkeys/login/verify", json=body)


async def test_passkeys_on_postgresql_and_redis_across_tenants(production_client: Client) -> None:
    """Row-level security, PgBouncer and Redis challenges: two tenants' users register,
    sign in with their passkeys (looked up across tenants), and a clone is refused."""
    client = production_client
    await register(client)
    await register(client, "bob@example.com")
    alice = SoftAuthenticator(ORIGIN)
    bob = SoftAuthenticator(ORIGIN)
    added = await register_passkey(client, bearer(await login(client)), alice)
    await register_passkey(client, bearer(await login(client, "bob@example.com")), bob)
    assert added["transports"] == ["internal"]

    for authenticator, email in ((alice, "alice@example.com"), (bob, "bob@example.com")):
        signed_in = await passkey_sign_in(client, authenticator)
        assert signed_in.status_code == 200, signed_in.text
        me = await client.get("/api/v1/users/me", headers=bearer(signed_in.json()["data"]))
        assert me.json()["data"]["email"] == email

    listed = await client.get("/api/v1/auth/passkeys", headers=bearer(await login(client)))
    [mine] = listed.json()["data"]
    assert (mine["sign_count"], mine["last_used_at"] is not None) == (1, True)

    alice.sign_count = 0  # a copy of the key made before the sign-in
    cloned = await passkey_sign_in(client, alice)
    assert cloned.status_code == 401
    elsewhere = await passkey_sign_in(client, bob, origin="https://evil.example")
    assert elsewhere.status_code == 401
    assert (await passkey_sign_in(client, bob)).status_code == 200


async def test_a_passkey_of_a_deleted_account_signs_in_no_more(
    client: Client,
) -> None:
    await register(client)
    headers = bearer(await login(client))
    authenticator = SoftAuthenticator(ORIGIN)
    await register_passkey(client, headers, authenticator)
    assert (await client.delete("/api/v1/users/me", headers=headers)).status_code == 200
    refused = await passkey_sign_in(client, authenticator)
    assert refused.status_code == 401, refused.text


async def test_the_same_credential_cannot_be_registered_twice(client: Client) -> None:
    await register(client)
    headers = bearer(await login(client))
    authenticator = SoftAuthenticator(ORIGIN)
    await register_passkey(client, headers, authenticator)
    options = await client.post("/api/v1/auth/passkeys/register/options", headers=headers)
    data = options.json()["data"]
    body = {
        "challenge_id": data["challenge_id"],
        "credential": authenticator.create(data["options"]),
    }
    again = await client.post("/api/v1/auth/passkeys/register/verify", json=body, headers=headers)
    assert again.status_code == 409, again.text


async def test_a_passkey_of_an_inactive_account_is_refused_and_audited(client: Client) -> None:
    world = await build_world(client)
    staff = world.headers["acme_user"]
    authenticator = SoftAuthenticator(ORIGIN)
    await register_passkey(client, staff, authenticator)
    staff_id = (await client.get("/api/v1/users/me", headers=staff)).json()["data"]["user_id"]
    off = await client.patch(
        f"/api/v1/users/{staff_id}", headers=world.headers["acme_admin"], json={"is_active": False}
    )
    assert off.status_code == 200, off.text
    refused = await passkey_sign_in(client, authenticator)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
    rows = await client.get(
        "/api/v1/audit-events",
        params={"action": "user.login.failed", "target_id": staff_id},
        headers=world.headers["acme_admin"],
    )
    assert [row["details"] for row in rows.json()["data"]] == [
        {"reason": "inactive", "method": "passkey"}
    ]
