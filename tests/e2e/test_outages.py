"""Every process rides out a dependency restart (SPEC §6 "Resilience").

Real processes: `tessera serve`, `worker` and `scheduler` on PostgreSQL and a Redis of the
test's own, an SMTP server and a webhook receiver. A light load runs through the API while
the dependency goes away and comes back; no process exits, a request gets its answer or a
503, and every email and webhook recorded is delivered exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.identity.conftest import PASSWORD
from tests.e2e.processes import free_port, running_server, tessera_processes
from tests.e2e.webhooks.receiver import Receiver
from tests.fakes.smtp_server import FakeSmtpServer
from tests.postgres_cluster import PostgresCluster
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
async def own_postgres() -> AsyncIterator[PostgresCluster]:
    """A migrated cluster of this test's own, the service's role allowed to log in."""
    cluster = PostgresCluster()
    try:
        await asyncio.to_thread(cluster.create)
        await services.migrate(cluster.url)
        admin = await asyncpg.connect(services.asyncpg_dsn(cluster.url))
        await admin.execute(f"ALTER ROLE {services.APP_ROLE} LOGIN")
        await admin.close()
        yield cluster
    finally:
        await asyncio.to_thread(cluster.destroy)


@pytest.fixture
def environment(smtp: FakeSmtpServer, tmp_path: Path) -> dict[str, str]:
    """Everything but the database and Redis, which each test points at its own."""
    return {
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


REGISTERED_AT_LEAST = 5
"""Registrations the load must have made around the outage (each hashes a password)."""


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
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once more than `REGISTERED_AT_LEAST` registrations succeeded."""

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
            body = {
                "email": email,
                "password": PASSWORD,
                "full_name": f"User {n}",
                "terms_accepted": True,
            }
            registered = await self.client.post("/api/v1/auth/register", json=body)
            self.statuses[registered.status_code] += 1
            if registered.status_code == 201:
                self.registered.append(email)
                if len(self.registered) > REGISTERED_AT_LEAST:
                    self.enough.set()
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
    body = {
        "email": ADMIN,
        "password": PASSWORD,
        "full_name": "Boss",
        "terms_accepted": True,
        "tenant_name": "Acme",
    }
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


async def resumed(client: httpx.AsyncClient, port: int, within: float = 10) -> dict[str, float]:
    """The queue gauges once the worker reads every queue again (or after `within` s)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        gauges = await queue_gauges(client, port)
        if set(gauges.values()) == {1.0} or asyncio.get_running_loop().time() > deadline:
            return gauges
        await asyncio.sleep(0.1)


async def delivered_exactly_once(
    load: Load, smtp: FakeSmtpServer, receiver: Receiver, *, most_sends: int = 1
) -> None:
    """Every email and webhook of the load arrives, once, within a minute (a registration
    sends a welcome email and a verification email; each sign-in a security alert).

    A job whose completion the database lost is sent again after its lease, under the same
    Message-ID or webhook-id, which receivers deduplicate on: then "once" means one id per
    message, each sent at most `most_sends` times (one more than the completions a fault
    can take from the same job)."""
    await smtp.wait_for_messages(2 * (len(load.registered) + 1) + load.sign_ins, timeout=60)
    await receiver.wait_for(len(load.renamed), within=60)
    await asyncio.sleep(4)  # anything sent twice would arrive by now (leases are 3 s)
    sends = Counter(str(message["Message-ID"]) for message in smtp.messages)
    assert max(sends.values()) <= most_sends, sends.most_common(3)
    ids: dict[tuple[str, str], set[str]] = {}
    for message in smtp.messages:
        mail = (str(message["To"]), str(message["Subject"]))
        ids.setdefault(mail, set()).add(str(message["Message-ID"]))
    alerts = [mail for mail in ids if mail[0] == ADMIN and "new sign-in" in mail[1]]
    assert [len(ids.pop(alert)) for alert in alerts] == [load.sign_ins]  # one per sign-in
    assert {len(distinct) for distinct in ids.values()} == {1}
    welcomed = {to for to, subject in ids if subject.startswith("Welcome")}
    assert welcomed >= set(load.registered)
    hooks: dict[str, set[str]] = {}
    for hit in receiver.hits:
        name = json.loads(hit.body)["data"]["full_name"]
        hooks.setdefault(name, set()).add(hit.headers["webhook-id"])
    assert {name: len(hooks.get(name, ())) for name in load.renamed} == dict.fromkeys(
        load.renamed, 1
    )
    hits = Counter(hit.headers["webhook-id"] for hit in receiver.hits)
    assert max(hits.values()) <= most_sends, hits.most_common(3)


@dataclass
class Run:
    load: Load
    during: dict[str, float]  # the worker's queue gauges during the outage
    after: dict[str, float]
    logs: dict[str, str]  # serve, worker, scheduler


Fault = Callable[[], Awaitable[None]]


async def ride_out(
    env: dict[str, str],
    tmp_path: Path,
    smtp: FakeSmtpServer,
    receiver: Receiver,
    *,
    down: Fault,
    up: Fault,
    most_sends: int = 1,
) -> Run:
    """Serve, a worker and a scheduler under load; `down()`, 4 s, `up()`, 4 s; then every
    process is still running and everything recorded is delivered."""
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
            await down()
            await asyncio.sleep(4)
            during = await queue_gauges(client, metrics)
            await up()
            after = await resumed(client, metrics)
            await asyncio.sleep(2)
            # Each registration hashes a password, slow on a busy machine: give it a minute.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(load.enough.wait(), 60)
            stop.set()
            await running
            assert {server.process.poll(), worker.poll(), scheduler.poll()} == {None}
            await delivered_exactly_once(load, smtp, receiver, most_sends=most_sends)
        logs = {
            "serve": server.log.read_text(),
            "worker": (tmp_path / "worker-0.log").read_text(),
            "scheduler": (tmp_path / "scheduler-1.log").read_text(),
        }
    assert load.statuses[503] > 0, "requests during the outage get 503"
    assert len(load.registered) > REGISTERED_AT_LEAST, load.statuses
    for name, log in logs.items():
        assert "Traceback" not in log, f"{name}:\n{log}"
    return Run(load, during, after, logs)


async def test_every_process_rides_out_a_redis_restart_and_nothing_is_lost(
    environment: dict[str, str],
    postgres_url: str,
    own_redis: RedisServer,
    smtp: FakeSmtpServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    await services.migrate(postgres_url)
    database = await services.as_app_role(postgres_url)
    env = environment | {"DATABASE_URL": database, "REDIS_URL": own_redis.url}
    run = await ride_out(
        env,
        tmp_path,
        smtp,
        receiver,
        down=lambda: asyncio.to_thread(own_redis.stop),
        up=lambda: asyncio.to_thread(own_redis.start),
    )
    assert set(run.during.values()) == {0.0}, run.during  # the worker's metrics show it
    assert set(run.after.values()) == {1.0}, run.after
    assert len(run.after) == 3
    allowed = {200, 201, 503} if own_redis.persistent else {200, 201, 401, 503}
    assert set(run.load.statuses) <= allowed, run.load.statuses  # empty: sessions are gone
    worker = run.logs["worker"]
    assert worker.count("Redis is unavailable") == 1, worker
    assert "Redis is back" in worker


async def terminate_connections(cluster_url: str) -> None:
    admin = await asyncpg.connect(services.asyncpg_dsn(cluster_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            services.APP_ROLE,
        )
    finally:
        await admin.close()


@pytest.mark.parametrize("fault", ["restart", "terminate"])
async def test_every_process_rides_out_postgresql_going_away(
    environment: dict[str, str],
    own_postgres: PostgresCluster,
    redis_prefix: str,
    smtp: FakeSmtpServer,
    receiver: Receiver,
    tmp_path: Path,
    fault: str,
) -> None:
    database = make_url(own_postgres.url).set(username=services.APP_ROLE)
    env = environment | {
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
    }

    async def down() -> None:
        if fault == "restart":
            await asyncio.to_thread(own_postgres.stop)
        else:  # the sessions end, the server stays: requests in flight fail, then reconnect
            for _ in range(8):
                await terminate_connections(own_postgres.url)
                await asyncio.sleep(0.5)

    async def up() -> None:
        if fault == "restart":
            await asyncio.to_thread(own_postgres.start)

    # A restart takes at most one completion from a job. Terminating every session eight
    # times over about 4.5 s can take two: one at the first send, one at the send after
    # the 3 s lease ran out.
    most_sends = 2 if fault == "restart" else 3
    run = await ride_out(env, tmp_path, smtp, receiver, down=down, up=up, most_sends=most_sends)
    assert set(run.load.statuses) <= {200, 201, 503}, run.load.statuses
    if fault == "restart":
        for name in ("serve", "worker"):
            assert "the database is unavailable" in run.logs[name], run.logs[name]
