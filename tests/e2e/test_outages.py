"""Every process rides out a dependency restart (SPEC §6 "Resilience").

Real processes: `tessera serve`, `worker` and `scheduler` on PostgreSQL and a Redis of the
test's own, an SMTP server and a webhook receiver. A light load runs through the API while
the dependency goes away and comes back; no process exits, a request gets its answer or a
503, and every email and webhook recorded is delivered exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tessera.main import migrations
from tests import services
from tests.e2e.identity.conftest import PASSWORD
from tests.e2e.processes import free_port, running_server, tessera_processes
from tests.e2e.webhooks.receiver import Receiver
from tests.fakes.smtp_server import FakeSmtpServer
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

ADMIN = "boss@acme.test"


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(params=["persistent", "empty"])
def own_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """Redis with its data kept across a restart, or coming back empty."""
    server = RedisServer(tmp_path / "redis", persistent=request.param == "persistent")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def environment(postgres_url: str, smtp: FakeSmtpServer, tmp_path: Path) -> dict[str, str]:
    await asyncio.to_thread(migrations.upgrade, postgres_url)
    return {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "JWT_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_RETRY_SCHEDULE": "1,2,4,8",
        "JOB_RETRY_BASE_SECONDS": "1",
        "JOB_LEASE_SECONDS": "3",
        "QUEUE_REDELIVERY_SECONDS": "2",
        "OUTBOX_SWEEP_SECONDS": "1",
        "RATE_LIMIT_ENABLED": "false",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }


@dataclass
class Load:
    """Registrations (each sends a welcome email) and profile changes of a tenant admin
    with a webhook on `user.updated`, one every 50 ms, until stopped."""

    client: httpx.AsyncClient
    registered: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    headers: dict[str, str] = field(default_factory=dict)
    sign_ins: int = 0

    async def log_in(self) -> int:
        body = {"email": ADMIN, "password": PASSWORD}
        response = await self.client.post("/api/v1/auth/login", json=body)
        if response.status_code == 200:
            token = response.json()["data"]["access_token"]
            self.headers = {"Authorization": f"Bearer {token}"}
            self.sign_ins += 1
        return response.status_code

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            email = f"user-{n}@example.com"
            body = {"email": email, "password": PASSWORD, "full_name": f"User {n}",
                    "terms_accepted": True}  # fmt: skip
            registered = await self.client.post("/api/v1/auth/register", json=body)
            self.statuses[registered.status_code] += 1
            if registered.status_code == 201:
                self.registered.append(email)
            name = f"Boss {n}"
            renamed = await self.client.put(
                "/api/v1/users/me", json={"full_name": name}, headers=self.headers
            )
            self.statuses[renamed.status_code] += 1
            if renamed.status_code == 200:
                self.renamed.append(name)
            elif renamed.status_code == 401:  # a Redis that came back empty forgot sessions
                self.statuses[await self.log_in()] += 1
            await asyncio.sleep(0.05)


async def setup_admin(client: httpx.AsyncClient, receiver: Receiver) -> Load:
    """The tenant admin, signed in, with a webhook on `user.updated` to `receiver`."""
    body = {"email": ADMIN, "password": PASSWORD, "full_name": "Boss", "terms_accepted": True,
            "tenant_name": "Acme"}  # fmt: skip
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    load = Load(client)
    assert await load.log_in() == 200
    hook = {"url": receiver.url(), "events": ["user.updated"], "description": "outage test"}
    response = await client.post("/api/v1/webhooks", json=hook, headers=load.headers)
    assert response.status_code == 201, response.text
    return load


async def queue_gauges(client: httpx.AsyncClient, port: int) -> dict[str, float]:
    """`queue_connected` of each queue, from the worker's metrics endpoint."""
    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("queue_connected{")
    }


async def delivered_exactly_once(
    load: Load, smtp: FakeSmtpServer, receiver: Receiver, admin_emails: int
) -> None:
    """Every email and webhook of the load arrives, once, within a minute: a registration
    sends a welcome email and a verification email."""
    await smtp.wait_for_messages(2 * (len(load.registered) + admin_emails), timeout=60)
    await receiver.wait_for(len(load.renamed), within=60)
    await asyncio.sleep(3)  # anything sent twice would arrive by now (leases are 3 s)
    sent = Counter((str(message["To"]), str(message["Subject"])) for message in smtp.messages)
    alerts = [mail for mail in sent if mail[0] == ADMIN and "new sign-in" in mail[1]]
    assert [sent.pop(alert) for alert in alerts] == [load.sign_ins]  # one per sign-in
    assert max(sent.values()) == 1, [mail for mail, times in sent.items() if times > 1]
    welcomed = {to for to, subject in sent if subject.startswith("Welcome")}
    assert welcomed >= set(load.registered)
    names = Counter(json.loads(hit.body)["data"]["full_name"] for hit in receiver.hits)
    assert {name: names[name] for name in load.renamed} == dict.fromkeys(load.renamed, 1)
    assert len({hit.headers["webhook-id"] for hit in receiver.hits}) == len(receiver.hits)


async def test_every_process_rides_out_a_redis_restart_and_nothing_is_lost(
    environment: dict[str, str], own_redis: RedisServer, smtp: FakeSmtpServer,
    receiver: Receiver, tmp_path: Path,
) -> None:  # fmt: skip
    env = environment | {"REDIS_URL": own_redis.url}
    with (
        running_server(tmp_path, env) as server,
        tessera_processes(tmp_path, env) as start,
    ):
        metrics = free_port()
        worker = start("worker", "--metrics-port", str(metrics))
        scheduler = start("scheduler")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            load = await setup_admin(client, receiver)
            stop = asyncio.Event()
            running = asyncio.create_task(load.run(stop))
            await asyncio.sleep(2)
            await asyncio.to_thread(own_redis.stop)
            await asyncio.sleep(4)
            during = await queue_gauges(client, metrics)
            await asyncio.to_thread(own_redis.start)
            await asyncio.sleep(4)
            after = await queue_gauges(client, metrics)
            stop.set()
            await running
            assert {server.process.poll(), worker.poll(), scheduler.poll()} == {None}
            await delivered_exactly_once(load, smtp, receiver, admin_emails=1)
        worker_log = (tmp_path / "worker-0.log").read_text()
    assert set(during.values()) == {0.0}, during  # the worker's metrics show the outage
    assert set(after.values()) == {1.0}, after
    assert len(after) == 3
    kept = own_redis.persistent
    assert set(load.statuses) <= ({200, 201, 503} if kept else {200, 201, 401, 503}), load.statuses
    assert load.statuses[503] > 0, "requests during the outage that need Redis get 503"
    assert len(load.registered) > 5, load.statuses
    assert worker_log.count("Redis is unavailable") == 1, worker_log
    assert "Redis is back" in worker_log
    assert "Traceback" not in worker_log
