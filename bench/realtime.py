"""1 000 WebSocket clients on one server process, and webhook deliveries to a local receiver.

Production mode on this machine: a throwaway PostgreSQL database (migrated), a Redis key
prefix of the run's own, `tessera serve --workers 1` and one `tessera worker` (all queues).

WebSockets: `CLIENTS` sockets from this process (aiohttp), spread over a few users, each
authenticated by the query token and subscribed to `global`; the server's RSS is read
before the first and after the last socket is open. Then an admin publishes `PUBLISHES`
global notifications, one after the other, each awaited on every socket: publish → receipt
is the time from sending `POST /notifications` to a socket receiving the frame, over the
whole way (the outbox, the relay, the worker's push job, Redis pub/sub, the server's
fan-out to its sockets).

Webhooks: a receiver in this process (aiohttp, answers 200 at once), one endpoint registered
by a tenant admin for `webhook.test`, and `opts.events` test events queued through
`POST /webhooks/{id}/test` by 16 concurrent callers; deliveries/s is events / (last receipt -
first call), and the worker's CPU over that stretch per delivery is what a delivery costs a
worker, however fast the callers queued them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from bench import stores
from bench.core import Figure, Options, Row
from bench.load import percentile_ms
from bench.servers import Server, base_env, floor, group_rss_bytes, running, serving, tessera
from tessera.main import migrations

NAME = "realtime"
TITLE = "1,000 WebSocket clients on one server process; webhook deliveries (production mode)"

CLIENTS = 1000
USERS = 10
PUBLISHES = 20
OPENING_CONCURRENCY = 50
WEBHOOK_CALLERS = 16
RECEIPT_TIMEOUT_S = 30.0
RAISED_LIMIT = "10000000"
ADMIN_EMAIL, PASSWORD = "bench-admin@example.com", "bench-pass-phrase-9"

NOTES = (
    f"The clients, the webhook receiver, the server, the worker, PostgreSQL and Redis share "
    f"this machine's {os.cpu_count()} cores.",
    "Memory per socket: the server's RSS (every process of `tessera serve`) after opening "
    "the sockets minus before, divided by the sockets; it includes each socket's task, "
    "buffers and subscription, and any allocator growth. The floor row is the same on the "
    "bare Litestar app under the same granian, with an echo socket: what any socket costs.",
    "publish → receipt percentiles are over every (publish, socket) pair; `first`/`last` "
    "are the medians over publishes of the earliest and latest socket to receive it, so "
    "last - first is the fan-out time of one notification to all sockets.",
    "Webhook deliveries are signed (Standard Webhooks + X-Signature), checked against SSRF "
    "(private targets allowed for the run) and logged in `webhook_deliveries`.",
)


def setup(opts: Options) -> str:
    return (
        f"{CLIENTS} sockets over {USERS} users, opened {OPENING_CONCURRENCY} at a time; "
        f"{PUBLISHES} global notifications; {opts.events} webhook test events from "
        f"{WEBHOOK_CALLERS} callers. `tessera serve --workers 1` and one `tessera worker`."
    )


async def run(opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    _raise_file_limit()
    floor_row = await _measure_floor_sockets()
    async with (
        _stack() as (server, worker),
        httpx.AsyncClient(base_url=server.base_url, timeout=60) as api,
    ):
        admin = await _log_in(api, ADMIN_EMAIL)
        users = [await _sign_up(api, f"bench{n}@example.com") for n in range(USERS)]
        sockets = await _measure_sockets(server, users, admin, api)
        hooks = await _measure_webhooks(api, users[0], opts.events, worker)
    return [floor_row, sockets, hooks]


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


def _raise_file_limit() -> None:
    """Each socket is a descriptor here and one in the server (which inherits the limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * CLIENTS + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@asynccontextmanager
async def _stack() -> AsyncIterator[tuple[Server, Server]]:
    """The API server and the worker (a `Server` only for its CPU clock: it serves no HTTP)."""
    async with AsyncExitStack() as stack:
        _say("creating and migrating a PostgreSQL database")
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rt-")))
        env = _environment(database_url, prefix, scratch)
        await _create_admin(env, scratch)
        log = stack.enter_context((scratch / "worker.log").open("wb"))
        argv = [sys.executable, "-m", "tessera", "worker"]
        process = await stack.enter_async_context(
            running(argv, env=base_env() | env, cwd=scratch, log=log)
        )
        worker = Server("worker", "", process.pid)
        _say("tessera: starting (production stores, one worker process)")
        server = await stack.enter_async_context(serving(tessera(env=env, cwd=scratch, workers=1)))
        yield server, worker


def _environment(database_url: str, prefix: str, scratch: Path) -> dict[str, str]:
    return {
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": stores.REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET_KEY": secrets.token_urlsafe(30),
        "DATA_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(scratch / "data"),
        "OUTBOX_SWEEP_SECONDS": "1",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_ADMIN_PER_MINUTE": RAISED_LIMIT,
    }


async def _create_admin(env: dict[str, str], scratch: Path) -> None:
    argv = ["create-admin", "--email", ADMIN_EMAIL, "--password", PASSWORD, "--full-name", "A"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tessera",
        *argv,
        cwd=scratch,
        env=base_env() | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"create-admin failed: {output.decode()}")


@dataclass(frozen=True)
class _User:
    id: str
    token: str


async def _sign_up(api: httpx.AsyncClient, email: str) -> _User:
    body = {"email": email, "password": PASSWORD, "full_name": "Bench", "terms_accepted": True}
    _expect(await api.post("/api/v1/auth/register", json=body), 201)
    return await _log_in(api, email)


async def _log_in(api: httpx.AsyncClient, email: str) -> _User:
    response = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    _expect(response, 200)
    token = response.json()["data"]["access_token"]
    me = await api.get("/api/v1/users/me", headers=_bearer(token))
    _expect(me, 200)
    return _User(me.json()["data"]["user_id"], token)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")


# WebSockets


@dataclass
class _Socket:
    ws: aiohttp.ClientWebSocketResponse
    arrivals: dict[str, float] = field(default_factory=dict)
    """Notification id → `perf_counter()` at receipt."""


async def _measure_sockets(
    server: Server, users: Sequence[_User], admin: _User, api: httpx.AsyncClient
) -> Row:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = group_rss_bytes(server.pid)
        _say(f"opening {CLIENTS} sockets")
        started = time.perf_counter()
        sockets = await _open_all(session, server.base_url, users)
        opened_s = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let the server settle before reading its memory
        after = group_rss_bytes(server.pid)
        readers = [asyncio.create_task(_read(socket)) for socket in sockets]
        try:
            latencies, firsts, lasts = await _publish_all(api, admin, sockets)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*(socket.ws.close() for socket in sockets))
    latencies.sort()
    return Row(
        f"{CLIENTS} sockets, {PUBLISHES} publishes",
        {
            "opened/s": round(CLIENTS / opened_s),
            "KiB/socket": round((after - before) / CLIENTS / 1024, 1),
            "server MiB": round(after / 2**20, 1),
            "p50 ms": _round(percentile_ms(latencies, 0.50)),
            "p99 ms": _round(percentile_ms(latencies, 0.99)),
            "first p50 ms": _round(_median_ms(firsts)),
            "last p50 ms": _round(_median_ms(lasts)),
        },
    )


async def _measure_floor_sockets() -> Row:
    """The same number of sockets on the floor's bare Litestar echo socket, same server."""
    async with serving(floor()) as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            before = group_rss_bytes(server.pid)
            _say(f"floor: opening {CLIENTS} bare sockets")
            gate = asyncio.Semaphore(OPENING_CONCURRENCY)
            url = server.base_url.replace("http", "ws", 1) + "/ws"

            async def open_one() -> aiohttp.ClientWebSocketResponse:
                async with gate:
                    ws = await session.ws_connect(url)
                    await ws.send_str("ping")
                    await ws.receive()
                    return ws

            sockets = await asyncio.gather(*(open_one() for _ in range(CLIENTS)))
            await asyncio.sleep(1.0)
            after = group_rss_bytes(server.pid)
            await asyncio.gather(*(ws.close() for ws in sockets))
    return Row(
        f"floor: {CLIENTS} bare Litestar echo sockets",
        {
            "KiB/socket": round((after - before) / CLIENTS / 1024, 1),
            "server MiB": round(after / 2**20, 1),
        },
    )


async def _open_all(
    session: aiohttp.ClientSession, base_url: str, users: Sequence[_User]
) -> list[_Socket]:
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)
    url = base_url.replace("http", "ws", 1) + "/api/v1/ws/notifications"

    async def open_one(number: int) -> _Socket:
        async with gate:
            ws = await session.ws_connect(url, params={"token": users[number % len(users)].token})
            await ws.send_json({"type": "subscribe", "channels": ["global"]})
            await ws.send_json({"type": "ping"})
            while (message := await ws.receive_json())["type"] != "pong":
                if message["type"] == "error":
                    raise RuntimeError(f"socket {number}: {message}")
            return _Socket(ws)

    return list(await asyncio.gather(*(open_one(n) for n in range(CLIENTS))))


async def _read(socket: _Socket) -> None:
    async for message in socket.ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        frame: dict[str, Any] = message.json()
        if frame.get("type") == "notification":
            socket.arrivals[frame["data"]["id"]] = time.perf_counter()


async def _publish_all(
    api: httpx.AsyncClient, admin: _User, sockets: Sequence[_Socket]
) -> tuple[list[float], list[float], list[float]]:
    latencies: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    _say(f"publishing {PUBLISHES} global notifications")
    for number in range(PUBLISHES):
        body = {"global": True, "title": f"bench {number}", "body": "publish to receipt"}
        sent = time.perf_counter()
        response = await api.post("/api/v1/notifications", json=body, headers=_bearer(admin.token))
        _expect(response, 201)
        notification_id = response.json()["data"]["id"]
        await _all_received(sockets, notification_id)
        times = [socket.arrivals[notification_id] - sent for socket in sockets]
        latencies.extend(times)
        firsts.append(min(times))
        lasts.append(max(times))
    return latencies, firsts, lasts


async def _all_received(sockets: Sequence[_Socket], notification_id: str) -> None:
    deadline = time.perf_counter() + RECEIPT_TIMEOUT_S
    while not all(notification_id in socket.arrivals for socket in sockets):
        if time.perf_counter() > deadline:
            missing = sum(notification_id not in socket.arrivals for socket in sockets)
            raise RuntimeError(f"{missing} sockets did not receive {notification_id}")
        await asyncio.sleep(0.002)


def _median_ms(values: list[float]) -> float | None:
    return percentile_ms(sorted(values), 0.5)


def _round(value: float | None) -> Figure:
    return None if value is None else round(value, 1)


# Webhooks


@dataclass
class _Arrivals:
    expected: int
    times: list[float] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, moment: float) -> None:
        self.times.append(moment)
        if len(self.times) >= self.expected:
            self.complete.set()


@asynccontextmanager
async def _receiver(expected: int) -> AsyncIterator[tuple[str, _Arrivals]]:
    """A local webhook receiver answering 200; its URL and the receipts."""
    arrivals = _Arrivals(expected)

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        arrivals.add(time.perf_counter())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", arrivals
    finally:
        await runner.cleanup()


async def _measure_webhooks(
    api: httpx.AsyncClient, owner: _User, events: int, worker: Server
) -> Row:
    async with _receiver(events) as (url, arrivals):
        body = {"url": url, "events": ["webhook.test"], "description": "bench"}
        created = await api.post("/api/v1/webhooks", json=body, headers=_bearer(owner.token))
        _expect(created, 201)
        webhook_id = created.json()["data"]["id"]
        _say(f"queueing {events} webhook test events")
        started = time.perf_counter()
        worker_cpu = worker.cpu_seconds()
        pending = iter(range(events))

        async def caller() -> None:
            for _ in pending:
                path = f"/api/v1/webhooks/{webhook_id}/test"
                _expect(await api.post(path, headers=_bearer(owner.token)), 202)

        await asyncio.gather(*(caller() for _ in range(WEBHOOK_CALLERS)))
        queued_s = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.complete.wait(), timeout=60 + events / 10)
        worker_cpu = worker.cpu_seconds() - worker_cpu
    delivered = len(arrivals.times)
    window = (arrivals.times[-1] - started) if arrivals.times else None
    return Row(
        f"{events} webhook deliveries",
        {
            "delivered": delivered,
            "queued/s": round(events / queued_s),
            "deliveries/s": None if not window else round(delivered / window),
            "worker CPU ms/delivery": worker_cpu * 1000 / delivered if delivered else None,
        },
    )
