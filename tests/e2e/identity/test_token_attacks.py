"""Forged, stale and misused tokens are refused at the API (SPEC §3.3 "Tokens")."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from tests.e2e.identity.conftest import SECRET, Client, bearer, login, register


async def claims_of_a_real_session(client: Client) -> dict[str, Any]:
    await register(client)
    tokens = await login(client)
    return dict(jwt.decode(tokens["access_token"], options={"verify_signature": False}))


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def refused(client: Client, token: str) -> None:
    response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_a_token_signed_with_alg_none_is_refused(client: Client) -> None:
    claims = await claims_of_a_real_session(client)
    await refused(client, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.")


async def test_an_hs512_token_with_the_right_key_is_refused(client: Client) -> None:
    claims = await claims_of_a_real_session(client)
    await refused(client, jwt.encode(claims, SECRET, algorithm="HS512"))


@pytest.mark.parametrize("claim", ["sid", "tid", "typ", "jti", "aud", "exp"])
async def test_a_token_missing_a_required_claim_is_refused(client: Client, claim: str) -> None:
    claims = await claims_of_a_real_session(client)
    claims.pop(claim)
    await refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_a_token_expired_beyond_the_leeway_is_refused(client: Client) -> None:
    claims = await claims_of_a_real_session(client)
    now = int(time.time())
    claims |= {"iat": now - 7200, "nbf": now - 7200, "exp": now - 31}
    await refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_a_token_for_another_audience_or_with_a_kid_header_is_refused(client: Client) -> None:
    claims = await claims_of_a_real_session(client)
    await refused(client, jwt.encode(claims | {"aud": "other-api"}, SECRET, algorithm="HS256"))
    await refused(
        client, jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "../../key"})
    )


async def test_a_validly_signed_token_of_an_unknown_session_is_refused(client: Client) -> None:
    claims = await claims_of_a_real_session(client)
    claims["sid"] = "00000000-0000-4000-8000-000000000000"
    await refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_a_self_promoted_role_changes_nothing(client: Client) -> None:
    """Role and tenant come from the session, not from the token's claims."""
    claims = await claims_of_a_real_session(client)
    forged = jwt.encode(claims | {"role": "admin"}, "x" * 40, algorithm="HS256")
    await refused(client, forged)
