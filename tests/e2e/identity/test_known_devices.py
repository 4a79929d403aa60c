"""Known devices (issue 19): signing in again from a browser seen lately is no "new sign-in",
whether or not its session ended; a new browser, one not seen within the memory, and any
browser after a password reset or "log out everywhere" are reported."""

from __future__ import annotations

import asyncio
import dataclasses
import email.policy
from collections.abc import AsyncIterator
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from dishka import Provider, Scope, decorate

from tessera.features.identity.application.accounts import IdentityConfig
from tests.e2e.identity.conftest import (
    PASSWORD,
    SECRET,
    Client,
    bearer,
    embedded_client,
    events,
    production_app,
    register,
)
from tests.e2e.identity.test_auth_flows import link_token
from tests.mail import body_text

pytestmark = pytest.mark.slow

MEMORY_SECONDS = 3
"""How long the app under test remembers a device (`KNOWN_DEVICE_DAYS` counts in days)."""
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
OTHER = "Other Browser/1.0"


class ShortMemory(Provider):
    @decorate(scope=Scope.APP)
    def shorter(self, config: IdentityConfig) -> IdentityConfig:
        return dataclasses.replace(config, known_device_seconds=MEMORY_SECONDS)


@dataclasses.dataclass
class Running:
    client: Client
    outbox: Path | None  # where the emails go, when the app itself sends them


@pytest.fixture(params=["embedded", "production"])
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[Running]:
    """The in-memory session store, then Redis's (where no worker sends the emails)."""
    if request.param == "embedded":
        async with embedded_client(
            tmp_path, ShortMemory(), rate_limit_enabled="false", jwt_secret_key=SECRET
        ) as client:
            yield Running(client, tmp_path / "outbox")
    else:
        async with production_app(
            tmp_path, redis_prefix, ShortMemory(), rate_limit_enabled="false"
        ) as client:
            yield Running(client, None)


async def sign_in(app: Client, agent: str, password: str = PASSWORD) -> dict[str, Any]:
    credentials = {"email": "alice@example.com", "password": password}
    response = await app.post("/api/v1/auth/login", json=credentials, headers={"User-Agent": agent})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def alerts(app: Client) -> int:
    """How many security alerts (`user.security_alert`, recorded with the alert email in
    the same commit, so exact the moment the request is answered) the app raised so far."""
    return len(await events(app, "user.security_alert"))


async def reset_token(outbox: Path | None, app: Client) -> str:
    """The token of the password-reset link: from the email, or, where no worker sends it,
    from the request the app recorded."""
    if outbox is not None:
        return await link_token(outbox, "reset-password")
    [link] = [
        event["payload"]["context"]["link"]
        for event in await events(app, "email.send")
        if event["payload"].get("template") == "password_reset"
    ]
    return str(link).rsplit("token=", 1)[1]


def alert_emails(outbox: Path) -> list[str]:
    """The text of each "new sign-in" email written to the outbox folder."""
    texts = (
        body_text(BytesParser(policy=email.policy.default).parsebytes(path.read_bytes()))
        for path in outbox.glob("*.eml")
    )
    return [text for text in texts if "new sign-in" in text]


async def delivered(outbox: Path, count: int) -> list[str]:
    """`alert_emails` once `count` have arrived, and a moment more, so one too many shows."""
    deadline = asyncio.get_running_loop().time() + 10
    while len(alert_emails(outbox)) < count:
        assert asyncio.get_running_loop().time() < deadline, alert_emails(outbox)
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    return alert_emails(outbox)


async def test_a_browser_seen_lately_is_no_new_sign_in_after_a_logout(running: Running) -> None:
    app = running.client
    await register(app)
    first = await sign_in(app, FIREFOX)
    assert await alerts(app) == 1, "the first sign-in from anywhere"
    assert (await app.post("/api/v1/auth/logout", headers=bearer(first))).status_code == 200
    await sign_in(app, FIREFOX)
    assert await alerts(app) == 1, "the same browser after a logout: known"
    await sign_in(app, OTHER)
    assert await alerts(app) == 2, "another user agent is another device"

    await asyncio.sleep(MEMORY_SECONDS + 0.2)
    await sign_in(app, FIREFOX)
    assert await alerts(app) == 3, "not seen within the memory"
    tokens = await sign_in(app, FIREFOX)
    assert await alerts(app) == 3, "and remembered again"

    everywhere = await app.post("/api/v1/auth/logout-all", headers=bearer(tokens))
    assert everywhere.status_code == 200
    await sign_in(app, FIREFOX)
    assert await alerts(app) == 4, "log out everywhere forgot it"

    forgot = await app.post("/api/v1/auth/password/forgot", json={"email": "alice@example.com"})
    assert forgot.status_code == 202
    new_password = "a brand new passphrase"
    token = await reset_token(running.outbox, app)
    reset = await app.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": new_password}
    )
    assert reset.status_code == 200, reset.text
    assert await alerts(app) == 5, "the reset's own alert: password changed"
    await sign_in(app, FIREFOX, new_password)
    assert await alerts(app) == 6, "the reset forgot the browser"

    if running.outbox is not None:  # the app sends its emails itself: read them
        emails = await delivered(running.outbox, 5)
        assert sorted(OTHER in text for text in emails) == [False] * 4 + [True]
