"""Background work for real: PostgreSQL, Redis, separate worker and scheduler processes,
and an SMTP server (SPEC §4, §5). Nothing is lost, nothing is sent twice, nothing is sent
for a change that rolled back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tessera.features.email.application.requests import email_requested
from tessera.shared.adapters.database import create_engine
from tessera.shared.application.ports import Outbox, UnitOfWork
from tessera.shared.domain.errors import Conflict
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Success, ok
from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.processes import BASE_ENV, tessera_processes
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.tcp_proxy import TcpProxy
from tests.mail import body_text

pytestmark = pytest.mark.slow


class Welcome(msgspec.Struct):
    to: str
    full_name: str
    fail_after_recording: bool = False


@post("/api/v1/probe/welcome")
@inject
async def welcome(
    data: JSONBody[Welcome], outbox: FromDishka[Outbox], uow: FromDishka[UnitOfWork]
) -> Success[dict[str, str]]:
    """A use case in miniature: record the email request with the change, then commit."""
    event = email_requested("welcome_email", data.to, {"full_name": data.full_name})
    outbox.record(event)
    if data.fail_after_recording:
        raise Conflict("the change was refused after the email was recorded")
    await uow.commit()
    return ok({"event_id": str(event.id)})


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def environment(
    postgres_url: str, redis_prefix: str, smtp: FakeSmtpServer, tmp_path: Path
) -> dict[str, str]:
    """The configuration the API, the workers and the scheduler share."""
    await services.migrate(postgres_url)
    return {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "JOB_RETRY_BASE_SECONDS": "2",
        "JOB_LEASE_SECONDS": "3",
        "QUEUE_REDELIVERY_SECONDS": "2",
        "OUTBOX_SWEEP_SECONDS": "1",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def spawn(
    environment: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    with tessera_processes(tmp_path, environment) as start:
        yield start


async def api_client(env: dict[str, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(**{key.lower(): value for key, value in env.items()})
    async with client_for(settings, routes=[welcome]) as client:
        yield client


@pytest.fixture
async def api(environment: dict[str, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    async for client in api_client(environment):
        yield client


BEGIN_S = 60
"""How long a fresh worker may take to pick up the email and start sending it: its start-up
and first Redis connection, retried with backoff when Redis does not answer in time. A
loaded CI run once saw the shared Redis time out a connection, and 20 s was not enough."""


async def outbox_row(database_url: str, event_id: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT status, attempts, dispatched_at FROM outbox WHERE id = :id"),
                    {"id": uuid.UUID(event_id)},
                )
            ).one()
    finally:
        await engine.dispose()
    return dict(row._mapping)


async def send_welcome(api: AsyncTestClient[Any], **fields: Any) -> str:
    body = {"to": "alice@example.com", "full_name": "Alice"} | fields
    response = await api.post("/api/v1/probe/welcome", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["event_id"])


async def test_an_event_committed_through_the_api_is_emailed_by_a_worker_process(
    api: AsyncTestClient[Any],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
    environment: dict[str, str],
) -> None:
    spawn("worker")
    event_id = await send_welcome(api, full_name="Alice <b>Liddell</b>")
    (message,) = await smtp.wait_for_messages(1, timeout=20)
    assert message["To"] == "alice@example.com"
    assert message["Message-ID"].startswith(f"<{event_id}@")
    html = body_text(message, "html")
    assert "Alice &lt;b&gt;Liddell&lt;/b&gt;" in html
    await wait_for(lambda: outbox_row(environment["DATABASE_URL"], event_id), status="done")


async def test_a_rolled_back_transaction_sends_nothing(
    api: AsyncTestClient[Any],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
) -> None:
    spawn("worker")
    refused = await api.post(
        "/api/v1/probe/welcome",
        json={"to": "mallory@example.com", "full_name": "M", "fail_after_recording": True},
    )
    assert refused.status_code == 409
    await send_welcome(api, to="bob@example.com")
    messages = await smtp.wait_for_messages(1, timeout=20)
    await asyncio.sleep(2)
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"] == [m["To"] for m in messages]


async def test_redis_down_at_commit_delays_the_email_but_loses_nothing(
    environment: dict[str, str],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
) -> None:
    redis = make_url(services.TEST_REDIS_URL)
    proxy = TcpProxy(redis.host or "127.0.0.1", redis.port or 6379)
    await proxy.start()
    through_proxy = redis.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    try:
        async for api in api_client(environment | {"REDIS_URL": through_proxy}):
            await proxy.cut()
            event_id = await send_welcome(api)
            await asyncio.sleep(3)  # the immediate relay gives up; the event waits
            row = await outbox_row(environment["DATABASE_URL"], event_id)
            assert (row["status"], row["dispatched_at"]) == ("pending", None)
            assert smtp.messages == []
    finally:
        await proxy.stop()
    spawn("worker")
    spawn("scheduler")
    (message,) = await smtp.wait_for_messages(1, timeout=30)
    assert message["Message-ID"].startswith(f"<{event_id}@")


async def test_a_worker_killed_mid_task_is_replaced_and_the_email_arrives_once(
    api: AsyncTestClient[Any],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
) -> None:
    smtp.accept_delay = 5
    doomed = spawn("worker")
    await send_welcome(api)
    assert await asyncio.to_thread(smtp.in_data.wait, BEGIN_S), "the worker began sending"
    os.kill(doomed.pid, signal.SIGKILL)
    smtp.accept_delay = 0
    spawn("worker")
    spawn("scheduler")
    await smtp.wait_for_messages(1, timeout=40)
    await asyncio.sleep(4)
    assert len(smtp.messages) == 1


async def test_refused_mail_retries_with_growing_delays_then_dies_and_replays(
    api: AsyncTestClient[Any],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
    environment: dict[str, str],
    tmp_path: Path,
) -> None:
    smtp.refuse_with = "550 5.7.1 mailbox unavailable"
    spawn("worker")
    spawn("scheduler")
    event_id = await send_welcome(api)
    row = await wait_for(
        lambda: outbox_row(environment["DATABASE_URL"], event_id), status="dead", timeout=40
    )
    assert row["attempts"] == 3
    first, second, third = smtp.attempts
    assert 1.5 < second - first < (third - second), "each wait is longer than the last"

    dead = run_cli(environment, tmp_path, "tasks", "dead")
    (entry,) = [json.loads(line) for line in dead.splitlines()]
    assert entry["job"]["job_id"] == event_id
    assert entry["job"]["type"] == "email.send"
    assert entry["job"]["attempts"] == 3
    assert {"created_at", "data"} <= set(entry["job"])
    assert "550" in entry["last_error"]

    smtp.refuse_with = None
    assert event_id in run_cli(environment, tmp_path, "tasks", "replay", event_id)
    (message,) = await smtp.wait_for_messages(1, timeout=20)
    assert message["Message-ID"].startswith(f"<{event_id}@")
    assert run_cli(environment, tmp_path, "tasks", "dead").strip() == ""


async def test_a_mail_server_without_starttls_is_named_in_health_the_worker_log_and_dead_list(
    smtp: FakeSmtpServer, environment: dict[str, str], tmp_path: Path
) -> None:
    """The default SMTP_STARTTLS=true against a plain development server: every place an
    operator looks says why, not only that mail failed."""
    env = {k: v for k, v in environment.items() if k != "SMTP_STARTTLS"}
    env |= {"JOB_RETRY_BASE_SECONDS": "0.5"}
    async for api in api_client(env):
        health = await api.get("/health/email")
        assert health.status_code == 503
        problem = health.json()["error"]["details"]["problems"]["email"]
        assert problem.startswith("TLS not offered: "), problem
        ready = await api.get("/health/ready")
        assert ready.json()["error"]["details"]["problems"] == {"email": problem}
        with tessera_processes(tmp_path, env) as start:
            start("worker")
            start("scheduler")
            event_id = await send_welcome(api)
            dead_row = partial(outbox_row, env["DATABASE_URL"], event_id)
            await wait_for(dead_row, status="dead", timeout=40)
    logged = [
        json.loads(line)
        for line in (tmp_path / "worker-0.log").read_text().splitlines()
        if line.startswith("{")
    ]
    failures = [r for r in logged if r.get("job_id") == event_id and "error" in r]
    assert failures, "the worker logged no failure of the job"
    assert all("TLS not offered" in r["error"] for r in failures), failures
    (entry,) = [json.loads(line) for line in run_cli(env, tmp_path, "tasks", "dead").splitlines()]
    assert entry["last_error"].startswith("MailNotSent: TLS not offered: ")
    assert smtp.messages == []


def run_cli(environment: dict[str, str], cwd: Path, *args: str) -> str:
    quiet = BASE_ENV | environment | {"LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        env=quiet,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def wait_for(
    read: Callable[[], Any],
    *,
    status: str,
    timeout: float = 20,  # noqa: ASYNC109
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row: dict[str, Any] = await read()
        if row["status"] == status:
            return row
        assert asyncio.get_running_loop().time() < deadline, f"still {row} after {timeout}s"
        await asyncio.sleep(0.2)


async def test_sigterm_lets_the_worker_finish_the_email_in_hand(
    api: AsyncTestClient[Any],
    spawn: Callable[..., subprocess.Popen[bytes]],
    smtp: FakeSmtpServer,
    environment: dict[str, str],
) -> None:
    smtp.accept_delay = 3
    worker = spawn("worker")
    event_id = await send_welcome(api)
    assert await asyncio.to_thread(smtp.in_data.wait, BEGIN_S), "the worker began sending"
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 20) == 0
    assert [m["Message-ID"].split("@")[0] for m in smtp.messages] == [f"<{event_id}"]
    await wait_for(lambda: outbox_row(environment["DATABASE_URL"], event_id), status="done")


async def test_queue_health_shows_depths_and_dead_letters(
    api: AsyncTestClient[Any], smtp: FakeSmtpServer
) -> None:
    queue = await api.get("/health/queue")
    assert queue.status_code == 200
    details = queue.json()["details"]
    assert set(details["depths"]) == {"email_queue", "webhooks", "default"}
    assert details["dead_letters"] == 0
    assert (await api.get("/health/email")).status_code == 200
    smtp.stop()
    email = await api.get("/health/email")
    assert email.status_code == 503
    assert email.json()["error"]["details"]["failing"] == ["email"]
