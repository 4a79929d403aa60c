"""SPEC §3.12 against the production stack (PostgreSQL as the app role, Redis, and where an
email's delivery is the point, a worker process and an SMTP server): what an attacker who
found issue 18 tried, and what must happen instead."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests import services
from tests.e2e.harness import client_for, on_app_loop, settings_for
from tests.e2e.identity.conftest import (
    PASSWORD,
    SECRET,
    CheapHashing,
    Client,
    bearer,
    events,
    login,
    production_app,
    query,
    register,
)
from tests.e2e.processes import BASE_ENV, tessera_processes
from tests.fakes.smtp_server import FakeSmtpServer
from tests.mail import body_text

pytestmark = pytest.mark.slow

FORGOT = "/api/v1/auth/password/forgot"
VERIFY_REQUEST = "/api/v1/auth/verify-email/request"
ME = "/api/v1/users/me"


async def from_address(
    client: Client, ip: str, method: str, path: str, **request: Any
) -> httpx.Response:
    """One request to the app under test as if its TCP peer were `ip` (the test client's
    own peer is always `testclient`), made on the app's event loop."""

    async def send(_container: object) -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as http:
            return await http.request(method, path, **request)

    return await on_app_loop(client, send)


# --- 4. the `auth` limit is per address, bearer or not ----------------------------------


async def test_a_signed_in_attacker_gets_no_more_auth_requests_than_anyone(
    tmp_path: Path, redis_prefix: str
) -> None:
    """The attacker's report: from one address, with a valid bearer, 25 of 25 logins
    against other accounts went through, and 14 registrations and 14 reset requests. Now
    the address's `auth` budget (10 a minute) is all there is: 2 spent signing in, 8 left."""
    async with production_app(tmp_path, redis_prefix) as app:
        await register(app, "mallory@example.com")
        tokens = await login(app, "mallory@example.com")
        signed_in = bearer(tokens)
        logins = [
            (
                await app.post(
                    "/api/v1/auth/login",
                    headers=signed_in,
                    json={"email": f"victim{n}@example.com", "password": "guess-" + str(n)},
                )
            ).status_code
            for n in range(25)
        ]
        assert logins == [401] * 8 + [429] * 17
        registration = {
            "email": "sock@example.com",
            "password": PASSWORD,
            "full_name": "S",
            "terms_accepted": True,
        }
        refused = [
            await app.post("/api/v1/auth/register", headers=signed_in, json=registration),
            await app.post(FORGOT, headers=signed_in, json={"email": "victim0@example.com"}),
        ]
        for response in refused:
            assert response.status_code == 429, response.text
            assert response.headers["ratelimit-policy"] == '"auth";q=10;w=60'
        me = await app.get(ME, headers=signed_in)
        assert me.status_code == 200
        assert me.headers["ratelimit"].startswith('"api";r=99;'), "the user's own budget"


# --- 5. per-account email ceiling, delivered by a worker ---------------------------------


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@asynccontextmanager
async def stack(
    tmp_path: Path, redis_prefix: str, smtp: FakeSmtpServer
) -> AsyncIterator[tuple[Client, Callable[..., subprocess.Popen[bytes]], dict[str, str]]]:
    """The API (in this process) and `tessera worker`/`scheduler` processes sharing
    PostgreSQL (as the app role), Redis and the SMTP server."""
    async with services.throwaway_database() as url:
        await services.migrate(url)
        environment = {
            "DATABASE_URL": await services.as_app_role(url),
            "REDIS_URL": services.TEST_REDIS_URL,
            "REDIS_KEY_PREFIX": redis_prefix,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "false",
            "JWT_SECRET_KEY": SECRET,
            "PUBLIC_BASE_URL": "https://app.example",
            "JOB_RETRY_BASE_SECONDS": "1",
            "JOB_LEASE_SECONDS": "3",
            "QUEUE_REDELIVERY_SECONDS": "2",
            "OUTBOX_SWEEP_SECONDS": "1",
            "DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "INFO",
        }
        settings = settings_for(**{key.lower(): value for key, value in environment.items()})
        with tessera_processes(tmp_path, environment) as spawn:
            async with client_for(settings, CheapHashing()) as client:
                yield client, spawn, environment


async def settled(client: Client, timeout: float = 60) -> dict[str, str]:  # noqa: ASYNC109
    """Wait until no job in the outbox is pending (each is done or dead: nothing is left to
    send); the status of each, by type."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await query(client, "SELECT id, event_type, status FROM outbox")
        if rows and all(row["status"] != "pending" for row in rows):
            return {str(row["id"]): f"{row['event_type']}: {row['status']}" for row in rows}
        assert asyncio.get_running_loop().time() < deadline, f"jobs still {rows}"
        await asyncio.sleep(0.2)


def kind_of(message: EmailMessage) -> str:
    body = body_text(message)
    for page in ("reset-password", "verify-email", "accept-invitation"):
        if f"/{page}?token=" in body:
            return page
    return "other"


async def test_emails_a_caller_can_trigger_stop_at_three_per_account_and_hour(
    tmp_path: Path, redis_prefix: str, smtp: FakeSmtpServer
) -> None:
    """The attacker's report: 15 reset requests from 15 addresses delivered 15 reset emails
    to one victim. Now each kind (reset, verification, invitation) reaches one address at
    most `EMAIL_PER_ACCOUNT_PER_HOUR` (3) times an hour; past it the API answers exactly as
    before and nothing more is sent."""
    async with stack(tmp_path, redis_prefix, smtp) as (api, spawn, _environment):
        spawn("worker")
        await register(api, "victim@example.com")  # welcome and verification emails
        await register(api, "admin@example.com", tenant_name="Acme")
        victim, admin = (
            await login(api, "victim@example.com"),
            await login(api, "admin@example.com"),
        )
        resets = [
            await from_address(
                api, f"203.0.113.{n}", "POST", FORGOT, json={"email": "Victim@Example.com"}
            )
            for n in range(15)
        ]
        assert {(r.status_code, r.json()["message"]) for r in resets} == {
            (202, resets[0].json()["message"])
        }
        verifications = [await api.post(VERIFY_REQUEST, headers=bearer(victim)) for _ in range(5)]
        assert {r.status_code for r in verifications} == {202}
        invitations = [
            await api.post(
                "/api/v1/invitations", headers=bearer(admin), json={"email": "invitee@example.com"}
            )
            for _ in range(5)
        ]
        assert {r.status_code for r in invitations} == {201}, "the same answer past the ceiling"

        await smtp.wait_for_messages(14, timeout=60)
        await settled(api)
    sent = [(str(m["To"]), kind_of(m)) for m in smtp.messages]
    assert sorted(sent) == sorted(
        [("victim@example.com", "other"), ("admin@example.com", "other")] * 2  # welcome, alert
        + [("victim@example.com", "verify-email")] * 3  # one at registration, two asked for
        + [("admin@example.com", "verify-email")]
        + [("victim@example.com", "reset-password")] * 3
        + [("invitee@example.com", "accept-invitation")] * 3
    )


# --- 7. `tessera tasks dead` shows no link or token ---------------------------------------


def run_cli(environment: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        env=BASE_ENV | environment | {"LOG_LEVEL": "ERROR"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


async def test_the_dead_letter_list_shows_email_jobs_without_their_links(
    tmp_path: Path, redis_prefix: str, smtp: FakeSmtpServer
) -> None:
    """The attacker's report: `tessera tasks dead` printed the payloads of dead email jobs
    with live reset and verification links. Now it shows each job with its secrets
    `[REDACTED]`; the stored job keeps them, so a replay still sends the working link."""
    smtp.refuse_with = "550 5.7.1 mailbox unavailable"
    async with stack(tmp_path, redis_prefix, smtp) as (api, spawn, environment):
        spawn("worker")
        spawn("scheduler")
        await register(api)  # welcome and verification emails
        assert (await api.post(FORGOT, json={"email": "alice@example.com"})).status_code == 202
        statuses = await settled(api)
        assert sorted(statuses.values()) == ["email.send: dead"] * 3 + ["user.created: done"]
        rows = await query(api, "SELECT id, payload FROM outbox WHERE event_type = 'email.send'")
        links = {str(row["id"]): row["payload"]["context"].get("link") for row in rows}
        tokens = [
            re.search(r"token=([\w-]+)", link).group(1)  # type: ignore[union-attr]
            for link in links.values()
            if link
        ]
        assert len(tokens) == 2

        dead = run_cli(environment, tmp_path, "tasks", "dead")
        shown = [json.loads(line) for line in dead.splitlines()]
        assert {entry["job"]["job_id"] for entry in shown} == set(links)
        for token in tokens:
            assert token not in dead
        shown_links = sorted(e["job"]["data"]["context"].get("link", "") for e in shown)
        assert shown_links == [
            "",
            "https://app.example/reset-password?token=[REDACTED]",
            "https://app.example/verify-email?token=[REDACTED]",
        ]
        assert all(e["job"]["data"]["to"] == "alice@example.com" for e in shown)

        reset_id = next(job for job, link in links.items() if link and "reset" in link)
        smtp.refuse_with = None
        replayed = run_cli(environment, tmp_path, "tasks", "replay", reset_id)
        assert reset_id in replayed
        assert not any(token in replayed for token in tokens)
        (message,) = await smtp.wait_for_messages(1, timeout=30)
    body = body_text(message)
    assert links[reset_id] in body, "the replayed email carries the real link"


# --- 9. a request that changes nothing changes nothing ------------------------------------


async def test_updates_that_change_nothing_leave_updated_at_and_record_no_event(
    tmp_path: Path, redis_prefix: str
) -> None:
    """The attacker's report: `PUT /users/me` with an empty body, or the same values, moved
    `updated_at` and fired `user.updated`. The same held for the admin update of a user
    and for renaming a tenant to its own name."""
    async with production_app(tmp_path, redis_prefix, rate_limit_enabled="false") as app:
        profile = await register(app, tenant_name="Acme")
        caller = bearer(await login(app))
        same = {"full_name": "Alice", "avatar_url": None}
        body: Mapping[str, object]
        for body in ({}, same, {"full_name": "  Alice "}, {"avatar_url": None}):
            response = await app.put(ME, headers=caller, json=body)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["updated_at"] == profile["updated_at"], body
        users = f"/api/v1/users/{profile['user_id']}"
        for body in ({}, {"full_name": "Alice", "role": "tenant_admin", "is_active": True}):
            response = await app.patch(users, headers=caller, json=body)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["updated_at"] == profile["updated_at"], body
        tenant = f"/api/v1/tenants/{profile['tenant_id']}"
        tenant_before = (await app.get(tenant, headers=caller)).json()["data"]
        for body in ({}, {"name": "Acme"}, {"name": " Acme "}):
            response = await app.patch(tenant, headers=caller, json=body)
            assert response.status_code == 200, response.text
            assert response.json()["data"] == tenant_before, body
        assert (await app.get(ME, headers=caller)).json()["data"] == profile
        assert await events(app, "user.updated") == []
        assert await events(app, "tenant.updated") == []

        changed = await app.put(ME, headers=caller, json={"full_name": "Alice L."})
        assert changed.json()["data"]["updated_at"] > profile["updated_at"]
        renamed = await app.patch(tenant, headers=caller, json={"name": "Acme Ltd"})
        assert renamed.json()["data"]["name"] == "Acme Ltd"
        assert len(await events(app, "user.updated")) == 1, "a real change still counts"
        assert len(await events(app, "tenant.updated")) == 1


# --- 10. live sessions per user are capped; a device outlives its sessions -----------------


async def test_a_login_past_the_cap_ends_the_oldest_session(
    tmp_path: Path, redis_prefix: str
) -> None:
    """The attacker's report: a benchmark left about 800 live sessions on one account, and
    every login read them all for the new-device check. Now a user has at most
    `SESSIONS_PER_USER_MAX` (here 3), a login past it ends the oldest, and a device stays
    known after the cap ended its sessions (the check is one look-up: `SessionStore`)."""
    async with production_app(
        tmp_path, redis_prefix, rate_limit_enabled="false", sessions_per_user_max="3"
    ) as app:
        user = await register(app)
        credentials = {"email": "alice@example.com", "password": PASSWORD}

        async def log_in(agent: str) -> dict[str, Any]:
            response = await app.post(
                "/api/v1/auth/login", json=credentials, headers={"User-Agent": agent}
            )
            assert response.status_code == 200, response.text
            return dict(response.json()["data"])

        laptop = [await log_in("Laptop/1") for _ in range(3)]
        phone = await log_in("Phone/1")  # a new device: ends laptop[0]
        laptop += [await log_in("Laptop/1") for _ in range(3)]  # the last ends the phone's
        again = await log_in("Phone/1")  # its only session ended, but it is known

        for ended in [*laptop[:4], phone]:
            assert (await app.get(ME, headers=bearer(ended))).status_code == 401
        for live in [*laptop[4:], again]:
            assert (await app.get(ME, headers=bearer(live))).status_code == 200
        listed = await app.get("/api/v1/auth/sessions", headers=bearer(again))
        assert len(listed.json()["data"]) == 3
        alerts = await events(app, "user.security_alert")
        assert [a["payload"]["user_agent"] for a in alerts] == ["Laptop/1", "Phone/1"]

        redis = Redis.from_url(services.TEST_REDIS_URL)
        try:
            index = f"{redis_prefix}session:index:{{{user['user_id']}}}"
            known = f"{redis_prefix}session:known-devices:{{{user['user_id']}}}"
            assert await redis.scard(index) == 3
            assert await redis.zcard(known) == 2
        finally:
            await redis.aclose()
