"""SPEC §3.3 and §3.4 through the HTTP API: every row's success and its listed errors."""

from __future__ import annotations

import asyncio
import email.policy
import re
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.e2e.identity.conftest import (
    PASSWORD,
    Client,
    bearer,
    embedded_client,
    login,
    register,
)
from tests.mail import body_text

pytestmark = pytest.mark.slow

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return dict(response.json()["error"])


async def link_token(outbox: Path, template_word: str, timeout: float = 10) -> str:  # noqa: ASYNC109
    """The token in the newest email whose text mentions `template_word`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
            text = body_text(message)
            found = re.search(rf"/{template_word}\?token=([\w-]+)", text)
            if found:
                return found.group(1)
        assert asyncio.get_running_loop().time() < deadline, f"no {template_word} email"
        await asyncio.sleep(0.1)


async def test_register_returns_the_user_and_a_tenant_it_administers(client: Client) -> None:
    user = await register(client, email="  Alice@Example.COM ")
    assert user["email"] == "alice@example.com"
    assert user["is_verified"] is False
    assert user["role"] == "tenant_admin"
    assert {"user_id", "full_name", "created_at", "tenant_id"} <= set(user)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"terms_accepted": False}, "terms_accepted"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "alice@example.com"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "admin"}, "role"),
        ({"invitation_token": "made-up"}, "invitation_token"),
    ],
)
async def test_register_refuses_invalid_input_naming_the_field(
    client: Client, fields: dict[str, Any], field: str
) -> None:
    body = {
        "email": "alice@example.com",
        "password": PASSWORD,
        "full_name": "A",
        "terms_accepted": True,
    }
    response = await client.post("/api/v1/auth/register", json=body | fields)
    assert error(response, 400, "VALIDATION_ERROR")["field"] == field


async def test_register_with_a_taken_email_is_a_conflict_in_any_case(client: Client) -> None:
    await register(client)
    body = {
        "email": "ALICE@example.com",
        "password": PASSWORD,
        "full_name": "A",
        "terms_accepted": True,
    }
    error(await client.post("/api/v1/auth/register", json=body), 409, "CONFLICT")


async def test_login_answers_the_same_for_unknown_email_and_wrong_password(client: Client) -> None:
    await register(client)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert error(wrong, 401, "UNAUTHORIZED") == error(unknown, 401, "UNAUTHORIZED")


async def test_login_gives_a_bearer_pair_that_is_never_cached(client: Client) -> None:
    await register(client)
    response = await client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    tokens = response.json()["data"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.json()["data"]["email"] == "alice@example.com"


async def test_refresh_rotates_and_the_old_pair_keeps_working_only_in_the_grace(
    client: Client,
) -> None:
    await register(client)
    first = await login(client)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    second = rotated.json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert again.json()["data"] == second, "within 10 s the parent gets the same pair"
    assert (await client.get("/api/v1/users/me", headers=bearer(second))).status_code == 200


async def test_two_concurrent_refreshes_with_one_token_rotate_once(client: Client) -> None:
    await register(client)
    tokens = await login(client)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(5)
        )
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["data"]["refresh_token"] for r in answers}) == 1
    sessions = await client.get("/api/v1/auth/sessions", headers=bearer(answers[0].json()["data"]))
    assert len(sessions.json()["data"]) == 1


async def test_reusing_an_older_refresh_token_revokes_the_session(client: Client) -> None:
    await register(client)
    first = await login(client)
    second = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()["data"]
    third = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).json()["data"]
    stolen = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    error(stolen, 401, "UNAUTHORIZED")
    error(await client.get("/api/v1/users/me", headers=bearer(third)), 401, "UNAUTHORIZED")
    error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}),
        401,
        "UNAUTHORIZED",
    )


async def test_a_refresh_token_is_not_a_bearer_token_and_vice_versa(client: Client) -> None:
    await register(client)
    tokens = await login(client)
    error(
        await client.get("/api/v1/users/me", headers=bearer(tokens["refresh_token"])),
        401,
        "UNAUTHORIZED",
    )
    as_refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    error(as_refresh, 401, "UNAUTHORIZED")


async def test_logout_ends_the_session_at_once(client: Client) -> None:
    await register(client)
    tokens = await login(client)
    assert (await client.post("/api/v1/auth/logout", headers=bearer(tokens))).status_code == 200
    error(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "UNAUTHORIZED")
    error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "UNAUTHORIZED",
    )
    error(await client.post("/api/v1/auth/logout", headers=bearer(tokens)), 401, "UNAUTHORIZED")


async def test_logout_all_ends_every_session(client: Client) -> None:
    await register(client)
    phone, laptop = await login(client), await login(client)
    response = await client.post("/api/v1/auth/logout-all", headers=bearer(phone))
    assert response.json()["data"] == {"sessions_ended": 2}
    for tokens in (phone, laptop):
        error(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "UNAUTHORIZED")


async def test_sessions_list_marks_the_current_one_and_can_end_another(client: Client) -> None:
    await register(client)
    phone, laptop = await login(client), await login(client)
    listed = (await client.get("/api/v1/auth/sessions", headers=bearer(phone))).json()["data"]
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    assert {
        "session_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip_address",
        "user_agent",
    } <= set(listed[0])
    other = next(s["session_id"] for s in listed if not s["current"])
    assert (
        await client.delete(f"/api/v1/auth/sessions/{other}", headers=bearer(phone))
    ).status_code == 200
    error(await client.get("/api/v1/users/me", headers=bearer(laptop)), 401, "UNAUTHORIZED")
    error(
        await client.delete(f"/api/v1/auth/sessions/{other}", headers=bearer(phone)),
        404,
        "NOT_FOUND",
    )


async def test_a_session_of_another_user_cannot_be_ended(client: Client) -> None:
    await register(client)
    await register(client, email="bob@example.com")
    alice, bob = await login(client), await login(client, "bob@example.com")
    bobs = (await client.get("/api/v1/auth/sessions", headers=bearer(bob))).json()["data"][0][
        "session_id"
    ]
    error(
        await client.delete(f"/api/v1/auth/sessions/{bobs}", headers=bearer(alice)),
        404,
        "NOT_FOUND",
    )
    assert (await client.get("/api/v1/users/me", headers=bearer(bob))).status_code == 200


async def test_the_link_mailed_at_registration_verifies_the_email_once(
    client: Client, tmp_path: Path
) -> None:
    await register(client)
    tokens = await login(client)
    token = await link_token(tmp_path / "outbox", "verify-email")
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["data"][
        "is_verified"
    ] is True
    error(
        await client.post("/api/v1/auth/verify-email", json={"token": token}),
        400,
        "VALIDATION_ERROR",
    )
    error(
        await client.post("/api/v1/auth/verify-email", json={"token": "forged"}),
        400,
        "VALIDATION_ERROR",
    )


async def test_a_requested_verification_link_voids_the_one_mailed_at_registration(
    client: Client, tmp_path: Path
) -> None:
    await register(client)
    tokens = await login(client)
    first = await link_token(tmp_path / "outbox", "verify-email")
    assert (
        await client.post("/api/v1/auth/verify-email/request", headers=bearer(tokens))
    ).status_code == 202
    second = await _another_link_token(tmp_path / "outbox", "verify-email", seen=first)
    error(
        await client.post("/api/v1/auth/verify-email", json={"token": first}),
        400,
        "VALIDATION_ERROR",
    )
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": second})
    ).status_code == 200


async def _another_link_token(outbox: Path, template_word: str, *, seen: str) -> str:
    """A link token other than `seen`, from any email mentioning `template_word`."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        for path in outbox.glob("*.eml"):
            message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
            text = body_text(message)
            found = re.search(rf"/{template_word}\?token=([\w-]+)", text)
            if found and found.group(1) != seen:
                return found.group(1)
        assert asyncio.get_running_loop().time() < deadline, f"no second {template_word} email"
        await asyncio.sleep(0.1)


async def test_forgot_password_answers_202_for_any_email_and_mails_only_real_ones(
    client: Client, tmp_path: Path
) -> None:
    await register(client)
    unknown = await client.post(
        "/api/v1/auth/password/forgot", json={"email": "nobody@example.com"}
    )
    known = await client.post("/api/v1/auth/password/forgot", json={"email": "alice@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json()["message"] == known.json()["message"]
    await link_token(tmp_path / "outbox", "reset-password")
    await asyncio.sleep(0.5)
    recipients = {
        BytesParser(policy=email.policy.default).parsebytes(p.read_bytes())["To"]
        for p in (tmp_path / "outbox").glob("*.eml")
    }
    assert "nobody@example.com" not in recipients


async def test_password_reset_works_once_and_ends_every_session(
    client: Client, tmp_path: Path
) -> None:
    await register(client)
    tokens = await login(client)
    await client.post("/api/v1/auth/password/forgot", json={"email": "alice@example.com"})
    token = await link_token(tmp_path / "outbox", "reset-password")
    new = "a brand new passphrase"
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": new}
    )
    assert reset.status_code == 200
    assert "access_token" not in reset.text, "a reset never signs the user in"
    error(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "UNAUTHORIZED")
    again = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "another one here"}
    )
    error(again, 400, "VALIDATION_ERROR")
    await login(client, password=new)
    error(
        await client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
        ),
        401,
        "UNAUTHORIZED",
    )


async def test_password_change_needs_the_current_one_and_ends_other_sessions(
    client: Client,
) -> None:
    await register(client)
    here, elsewhere = await login(client), await login(client)
    wrong = {"current_password": "not it at all", "new_password": "a brand new passphrase"}
    error(
        await client.post("/api/v1/auth/password/change", json=wrong, headers=bearer(here)),
        401,
        "UNAUTHORIZED",
    )
    weak = {"current_password": PASSWORD, "new_password": "short"}
    error(
        await client.post("/api/v1/auth/password/change", json=weak, headers=bearer(here)),
        400,
        "VALIDATION_ERROR",
    )
    good = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert (
        await client.post("/api/v1/auth/password/change", json=good, headers=bearer(here))
    ).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(here))).status_code == 200
    error(await client.get("/api/v1/users/me", headers=bearer(elsewhere)), 401, "UNAUTHORIZED")


async def test_a_profile_served_from_the_cache_is_the_one_read_from_the_database(
    client: Client,
) -> None:
    await register(client)
    tokens = await login(client)
    update = {"full_name": "Alice Liddell"}  # the change empties the cache: the next GET reads
    await client.put(ME, json=update, headers=bearer(tokens))
    read, cached = [(await client.get(ME, headers=bearer(tokens))).content for _ in range(2)]
    # The cached copy is spliced into the envelope as stored: the same bytes, field for field.
    envelopes = [msgspec.json.decode(body, type=dict[str, msgspec.Raw]) for body in (read, cached)]
    assert bytes(envelopes[0]["data"]) == bytes(envelopes[1]["data"])
    assert msgspec.json.decode(envelopes[1]["data"])["full_name"] == "Alice Liddell"


async def test_profile_update_changes_only_name_and_avatar(client: Client) -> None:
    await register(client)
    tokens = await login(client)
    await client.get("/api/v1/users/me", headers=bearer(tokens))  # warm the cache
    update = {"full_name": "Alice Liddell", "avatar_url": "https://cdn.example.com/a.png"}
    changed = await client.put("/api/v1/users/me", json=update, headers=bearer(tokens))
    assert changed.json()["data"]["full_name"] == "Alice Liddell"
    me = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["data"]
    assert me["avatar_url"] == "https://cdn.example.com/a.png", "the cached profile was invalidated"


@pytest.mark.parametrize("field", ["role", "tenant_id", "email", "is_verified"])
async def test_profile_update_refuses_fields_the_user_may_not_set(
    client: Client, field: str
) -> None:
    await register(client)
    tokens = await login(client)
    response = await client.put("/api/v1/users/me", json={field: "admin"}, headers=bearer(tokens))
    assert error(response, 400, "VALIDATION_ERROR")["field"] == field
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["data"][
        "role"
    ] == "tenant_admin"


async def test_a_deleted_account_cannot_sign_in_and_its_email_is_free(client: Client) -> None:
    await register(client)
    tokens = await login(client)
    deleted = await client.delete("/api/v1/users/me", headers=bearer(tokens))
    assert deleted.json() == deleted.json() | {
        "status": "success",
        "message": "Account deleted successfully",
    }
    error(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "UNAUTHORIZED")
    error(
        await client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
        ),
        401,
        "UNAUTHORIZED",
    )
    await register(client)


async def test_endpoints_that_need_a_token_refuse_without_one(client: Client) -> None:
    for method, path in [
        ("GET", "/api/v1/users/me"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/auth/sessions"),
        ("POST", "/api/v1/auth/verify-email/request"),
    ]:
        error(await client.request(method, path), 401, "UNAUTHORIZED")
        error(
            await client.request(method, path, headers={"Authorization": "Bearer garbage"}),
            401,
            "UNAUTHORIZED",
        )


async def test_the_whole_flow_works_on_postgresql_and_redis(production_client: Client) -> None:
    await register(production_client)
    tokens = await login(production_client)
    rotated = await production_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    fresh = rotated.json()["data"]
    assert (
        await production_client.get("/api/v1/users/me", headers=bearer(fresh))
    ).status_code == 200
    assert (
        await production_client.post("/api/v1/auth/logout", headers=bearer(fresh))
    ).status_code == 200
    error(
        await production_client.get("/api/v1/users/me", headers=bearer(fresh)), 401, "UNAUTHORIZED"
    )


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
async def test_repeated_failures_slow_an_account_down_without_locking_it(
    client: Client, email: str
) -> None:
    """Known or unknown, an email that keeps failing must wait: nothing reveals which."""
    await register(client)
    for _ in range(5):
        bad = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong guess!"}
        )
        assert bad.status_code == 401
    blocked = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    body = error(blocked, 429, "RATE_LIMIT_EXCEEDED")
    assert body["retry_after"] >= 1
    assert int(blocked.headers["retry-after"]) == body["retry_after"]
    await asyncio.sleep(body["retry_after"] + 0.2)
    if email == "alice@example.com":
        await login(client)


async def test_unverified_users_get_403_when_verification_is_required(tmp_path: Path) -> None:
    async with embedded_client(tmp_path, require_email_verification="true") as strict:
        await register(strict)
        refused = await strict.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
        )
        assert error(refused, 403, "FORBIDDEN")["message"].startswith("Verify your email")
        wrong = await strict.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": "nope nope nope"}
        )
        error(wrong, 401, "UNAUTHORIZED")
        # the link mailed at registration is the way in: no sign-in is needed to get one
        token = await link_token(tmp_path / "outbox", "verify-email")
        verified = await strict.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200
        await login(strict)


async def test_rate_limits_count_the_sessions_caller_and_a_dead_token_as_anonymous(
    tmp_path: Path,
) -> None:
    """One authentication serves the rate limiter and the handler: a live session's requests
    count against its user; once the session has ended its token buys nothing, and the
    request counts against the address like any anonymous one, never against its user."""
    async with embedded_client(tmp_path, rate_limit_api_per_minute="4") as limited:
        await register(limited)
        tokens = await login(limited)
        for remaining in ("3", "2"):
            me = await limited.get("/api/v1/users/me", headers=bearer(tokens))
            assert me.status_code == 200
            assert me.headers["ratelimit-policy"] == '"api";q=4;w=60'
            assert me.headers["x-ratelimit-remaining"] == remaining
        out = await limited.post("/api/v1/auth/logout", headers=bearer(tokens))
        assert out.status_code == 200
        assert out.headers["ratelimit-policy"] == '"auth";q=10;w=60', "/auth/: by address"
        gone = await limited.get("/api/v1/users/me", headers=bearer(tokens))
        error(gone, 401, "UNAUTHORIZED")
        assert gone.headers["x-ratelimit-remaining"] == "3", "the address's own budget"
        anonymous = await limited.get("/api/v1/users/me")
        error(anonymous, 401, "UNAUTHORIZED")
        assert anonymous.headers["x-ratelimit-remaining"] == "2"
        again = await limited.get("/api/v1/users/me", headers=bearer(await login(limited)))
        assert again.status_code == 200
        assert again.headers["x-ratelimit-remaining"] == "1", "the dead token cost the user nothing"
