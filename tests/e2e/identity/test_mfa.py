"""TOTP two-factor sign-in over HTTP (SPEC §3.13, issue 22), in embedded mode (SQLite and
memory) and, where the store matters, in production mode (PostgreSQL under row-level
security and Redis): enrolment, the second step of a sign-in, replays, drift, recovery
codes, tickets used twice or too late, the throttle on codes, turning it off, and a tenant
that requires it."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dishka import Provider, Scope, provide

from tessera.features.identity.domain.mfa import STEP_SECONDS, totp_code
from tessera.shared.application.ports import Clock
from tests.e2e.identity.conftest import (
    PASSWORD,
    SECRET,
    Client,
    bearer,
    embedded_client,
    events,
    login,
    production_app,
    query,
    register,
)

API = "/api/v1"
EMAIL = "alice@example.com"


class MovableClock:
    """The real time, moved forward by the test (TOTP steps, the ticket's five minutes)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class ClockProvider(Provider):
    def __init__(self, clock: MovableClock) -> None:
        super().__init__()
        self._clock = clock

    @provide(scope=Scope.APP, override=True)
    def clock(self) -> Clock:
        return self._clock


@dataclasses.dataclass
class App:
    client: Client
    clock: MovableClock

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = bearer(token) if token else {}
        return await self.client.post(API + path, json=body, headers=headers)

    def code(self, secret: str, steps_off: int = 0) -> str:
        return totp_code(secret, self.clock.now(), steps_off=steps_off)


@dataclasses.dataclass
class Enrolled:
    secret: str
    recovery_codes: list[str]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    clock = MovableClock()
    async with embedded_client(
        tmp_path, ClockProvider(clock), rate_limit_enabled="false", jwt_secret_key=SECRET
    ) as client:
        yield App(client, clock)


@pytest.fixture(params=["embedded", "production"])
async def either(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[App]:
    """The in-memory tickets and SQLite, then Redis and PostgreSQL as the app role."""
    clock = MovableClock()
    if request.param == "embedded":
        async with embedded_client(
            tmp_path, ClockProvider(clock), rate_limit_enabled="false", jwt_secret_key=SECRET
        ) as client:
            yield App(client, clock)
    else:
        async with production_app(
            tmp_path,
            redis_prefix,
            ClockProvider(clock),
            rate_limit_enabled="false",
            data_encryption_key=base64.b64encode(os.urandom(32)).decode(),
        ) as client:
            yield App(client, clock)


async def enrol(app: App, token: str) -> Enrolled:
    """TOTP set up and confirmed from the session of `token`; then a step passes, since the
    confirming code's step is spent."""
    setup = await app.post("/auth/mfa/totp/setup", {}, token)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["data"]["secret"]
    confirmed = await app.post("/auth/mfa/totp/confirm", {"code": app.code(secret)}, token)
    assert confirmed.status_code == 200, confirmed.text
    app.clock.advance(STEP_SECONDS)
    return Enrolled(secret, confirmed.json()["data"]["recovery_codes"])


async def ticket(app: App) -> str:
    answer = await app.post("/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["mfa_required"] is True
    assert "access_token" not in data
    return str(data["ticket"])


async def verify(app: App, the_ticket: str, code: str) -> Any:
    return await app.post("/auth/mfa/verify", {"ticket": the_ticket, "code": code})


async def enrolled_user(app: App) -> Enrolled:
    await register(app.client, EMAIL)
    return await enrol(app, (await login(app.client, EMAIL))["access_token"])


async def audited(app: App, action: str) -> list[dict[str, Any]]:
    return await query(
        app.client,
        "SELECT details FROM audit_events WHERE action = :action ORDER BY occurred_at",
        action=action,
    )


async def test_enrol_then_sign_in_with_a_code(either: App) -> None:
    app = either
    await register(app.client, EMAIL)
    token = (await login(app.client, EMAIL))["access_token"]
    setup = await app.post("/auth/mfa/totp/setup", {}, token)
    assert setup.status_code == 200, setup.text
    view = setup.json()["data"]
    assert view["otpauth_uri"].startswith("otpauth://totp/Tessera:alice%40example.com?")
    assert view["qr_code"].startswith("data:image/svg+xml")
    stored = await query(app.client, "SELECT secret FROM totp_credentials")
    assert view["secret"] not in stored[0]["secret"], "sealed at rest"

    confirmed = await app.post("/auth/mfa/totp/confirm", {"code": app.code(view["secret"])}, token)
    assert confirmed.status_code == 200, confirmed.text
    assert len(set(confirmed.json()["data"]["recovery_codes"])) == 10
    status = await app.client.get(f"{API}/auth/mfa", headers=bearer(token))
    assert status.json()["data"] == {
        "totp_enabled": True,
        "totp_pending": False,
        "recovery_codes_left": 10,
    }
    assert len(await audited(app, "user.mfa.enabled")) == 1
    app.clock.advance(STEP_SECONDS)

    signed_in_before = len(await audited(app, "user.login.succeeded"))
    first = await ticket(app)
    assert len(await audited(app, "user.login.succeeded")) == signed_in_before
    code = app.code(view["secret"])
    tokens = await verify(app, first, code)
    assert tokens.status_code == 200, tokens.text
    me = await app.client.get(f"{API}/users/me", headers=bearer(tokens.json()["data"]))
    assert me.status_code == 200
    sessions = await app.client.get(f"{API}/auth/sessions", headers=bearer(tokens.json()["data"]))
    assert {(s["current"], s["mfa"]) for s in sessions.json()["data"]} == {
        (True, True),  # signed in with a code
        (False, True),  # signed in with the password only, then proved a code by enrolling
    }
    assert len(await audited(app, "user.login.succeeded")) == signed_in_before + 1

    again = await verify(app, first, app.code(view["secret"], 1))
    assert again.status_code == 401, "a ticket signs in once"
    replayed = await verify(app, await ticket(app), code)
    assert replayed.status_code == 401, "a code is accepted once"
    assert replayed.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("steps_off", [-2, 2])
async def test_a_code_two_steps_away_is_refused(app: App, steps_off: int) -> None:
    enrolled = await enrolled_user(app)
    app.clock.advance(3 * STEP_SECONDS)
    the_ticket = await ticket(app)
    refused = await verify(app, the_ticket, app.code(enrolled.secret, steps_off))
    assert refused.status_code == 401
    details = (await audited(app, "user.login.failed"))[-1]["details"]
    if isinstance(details, str):  # SQLite gives JSON as text
        details = json.loads(details)
    assert details == {"reason": "wrong_code", "method": "totp"}
    one_off = await verify(app, the_ticket, app.code(enrolled.secret, steps_off // 2))
    assert one_off.status_code == 200, "one step of drift is fine, and the ticket still lives"


async def test_a_recovery_code_signs_in_once(app: App) -> None:
    enrolled = await enrolled_user(app)
    alerts = len(await events(app.client, "user.security_alert"))
    code = enrolled.recovery_codes[0]
    used = await verify(app, await ticket(app), code)
    assert used.status_code == 200, used.text
    assert len(await audited(app, "user.mfa.recovery_code_used")) == 1
    # One alert, with the change (its payload is emptied once its job has run).
    assert len(await events(app.client, "user.security_alert")) == alerts + 1
    status = await app.client.get(f"{API}/auth/mfa", headers=bearer(used.json()["data"]))
    assert status.status_code == 200, status.text
    assert status.json()["data"]["recovery_codes_left"] == 9

    assert (await verify(app, await ticket(app), code)).status_code == 401


async def test_a_ticket_expires_after_five_minutes(app: App) -> None:
    enrolled = await enrolled_user(app)
    the_ticket = await ticket(app)
    app.clock.advance(301)
    expired = await verify(app, the_ticket, app.code(enrolled.secret))
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]


async def test_guessing_codes_is_throttled(app: App) -> None:
    enrolled = await enrolled_user(app)
    the_ticket = await ticket(app)
    near = {app.code(enrolled.secret, off) for off in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)
    for _ in range(5):
        assert (await verify(app, the_ticket, wrong)).status_code == 401
    throttled = await verify(app, the_ticket, app.code(enrolled.secret))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1


async def test_turning_totp_off_needs_the_password_and_a_code(app: App) -> None:
    enrolled = await enrolled_user(app)
    token = (await verify(app, await ticket(app), app.code(enrolled.secret))).json()["data"]
    app.clock.advance(STEP_SECONDS)

    async def disable(body: dict[str, str]) -> Any:
        return await app.client.request(
            "DELETE", f"{API}/auth/mfa/totp", json=body, headers=bearer(token)
        )

    assert (await disable({"code": app.code(enrolled.secret)})).status_code == 400
    wrong_password = await disable({"password": "not it at all", "code": app.code(enrolled.secret)})
    assert wrong_password.status_code == 401
    assert (await disable({"password": PASSWORD, "code": "000000x"})).status_code == 401
    alerts = len(await events(app.client, "user.security_alert"))

    turned_off = await disable({"password": PASSWORD, "code": app.code(enrolled.secret)})

    assert turned_off.status_code == 200, turned_off.text
    assert len(await audited(app, "user.mfa.disabled")) == 1
    # One alert, with the change (its payload is emptied once its job has run).
    assert len(await events(app.client, "user.security_alert")) == alerts + 1
    assert "access_token" in await login(app.client, EMAIL)


async def test_a_tenant_requiring_mfa_blocks_other_routes_until_enrolment(either: App) -> None:
    app = either
    tenant_id = (await register(app.client, EMAIL))["tenant_id"]
    admin = (await login(app.client, EMAIL))["access_token"]
    switched = await app.client.patch(
        f"{API}/tenants/{tenant_id}", json={"mfa_required": True}, headers=bearer(admin)
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["data"]["mfa_required"] is True

    token = (await login(app.client, EMAIL))["access_token"]
    blocked = await app.client.get(f"{API}/auth/sessions", headers=bearer(token))
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "FORBIDDEN"
    assert blocked.json()["error"]["details"] == {"reason": "mfa_enrolment_required"}
    assert (await app.client.get(f"{API}/tenants", headers=bearer(token))).status_code == 403
    assert (await app.client.get(f"{API}/users/me", headers=bearer(token))).status_code == 200
    status = await app.client.get(f"{API}/auth/mfa", headers=bearer(token))
    assert status.status_code == 200
    assert (await app.client.get(f"{API}/auth/sessions", headers=bearer(admin))).status_code == 200

    await enrol(app, token)

    assert (await app.client.get(f"{API}/auth/sessions", headers=bearer(token))).status_code == 200
