"""Faults under a steady load: Redis restarted, then PostgreSQL's connections killed.

`tessera serve --workers 2`, one `tessera worker` and one `tessera scheduler` on a fresh
PostgreSQL database and a `redis-server` of the run's own (append-only file, as production
keeps it), an SMTP sink. A steady load of registrations (each commits a `user.created`
event and two emails) and `GET /users/me` runs throughout; Redis is shut down and started
again at `REDIS_AT_S`, and every connection of the database is terminated at `POSTGRES_AT_S`.

Reported: requests by status per second, for each fault the longest run of seconds with a
503 and the time until the last one, the 500s (there should be none), and the emails the
committed registrations asked for against those the SMTP sink received (equal, each once).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from tests.redis_server import RedisServer

from bench import stores
from bench.core import Figure, Options, Row
from bench.servers import Server, base_env, running, serving, tessera
from bench.smtp_sink import Arrival, SmtpSink
from tessera.main import migrations

NAME = "faults"
TITLE = "A Redis restart and killed PostgreSQL connections under a steady load"

LOAD_S = 40.0
REDIS_AT_S = 10.0
REDIS_DOWN_S = 3.0
POSTGRES_AT_S = 25.0
CLIENTS = 4
"""Concurrent clients, each alternating a registration and `GET /users/me`."""
PACE_S = 0.05
DELIVERY_BOUND_S = 90.0
ME = "/api/v1/users/me"
EMAILS_PER_REGISTRATION = 2  # welcome, verify your email
EMAILS_PER_SIGN_UP = 3  # and the security alert of the first sign-in

NOTES = (
    f"{CLIENTS} clients in this process, each alternating `POST /auth/register` (a new user) "
    f"and `GET /users/me` (one of {CLIENTS} signed-in users), {PACE_S * 1000:g} ms apart, for "
    f"{LOAD_S:g} s. Redis is shut down at {REDIS_AT_S:g} s and started again "
    f"{REDIS_DOWN_S:g} s after it stopped (its data kept); at {POSTGRES_AT_S:g} s every "
    "connection to the database is terminated (`pg_terminate_backend`). Recovery is the "
    "time from the fault to its last 503 (whole seconds), and from its return (Redis "
    "answering again; its own shutdown takes seconds) to the end of the second of that last "
    "503. Emails: every registration answered 201 asked for two; the sink counts distinct "
    "Message-IDs (a resend keeps its Message-ID) and all arrivals.",
)


@dataclass
class _Tally:
    started: float
    statuses: dict[int, Counter[str]] = field(default_factory=dict)
    registered: int = 0
    back: dict[float, float] = field(default_factory=dict)
    """When each fault (by its start) was over: Redis answering again, the kill done."""

    def now(self) -> float:
        return time.monotonic() - self.started

    def record(self, status: int) -> None:
        second = int(time.monotonic() - self.started)
        kind = "2xx" if status < 300 else str(status)
        self.statuses.setdefault(second, Counter())[kind] += 1


def setup(_opts: Options) -> str:
    return (
        f"`tessera serve --workers 2`, 1 worker, 1 scheduler; {CLIENTS} clients for "
        f"{LOAD_S:g} s; Redis restarted at {REDIS_AT_S:g} s, PostgreSQL connections killed at "
        f"{POSTGRES_AT_S:g} s."
    )


async def run(_opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        return [Row("not run", {"why": why})]
    async with _deployment() as (server, redis, database_url, smtp):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            tokens = [await _sign_up(client, f"steady{n}@example.com") for n in range(CLIENTS)]
            tally = _Tally(time.monotonic())
            stop = asyncio.Event()
            clients = [
                asyncio.create_task(_client(client, tally, token, n, stop))
                for n, token in enumerate(tokens)
            ]
            await _faults(tally, redis, database_url)
            await asyncio.sleep(max(0.0, LOAD_S - (time.monotonic() - tally.started)))
            stop.set()
            await asyncio.gather(*clients)
        expected = EMAILS_PER_SIGN_UP * CLIENTS + EMAILS_PER_REGISTRATION * tally.registered
        waited = await _delivered(smtp, expected)
        return _rows(tally, smtp.arrivals, expected, waited)


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


@asynccontextmanager
async def _deployment() -> AsyncIterator[tuple[Server, RedisServer, str, SmtpSink]]:
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-faults-")))
        redis = RedisServer(scratch / "redis", persistent=True)
        redis.start()
        stack.callback(redis.stop)
        smtp = stack.enter_context(SmtpSink())
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "false",
            "JWT_SECRET_KEY": secrets.token_urlsafe(30),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(scratch / "data"),
            "OUTBOX_SWEEP_SECONDS": "1",
            "JOB_LEASE_SECONDS": "5",
            "QUEUE_REDELIVERY_SECONDS": "5",
            "RATE_LIMIT_ENABLED": "false",
        }
        for name in ("worker", "scheduler"):
            log = stack.enter_context((scratch / f"{name}.log").open("wb"))
            argv = [sys.executable, "-m", "tessera", name]
            await stack.enter_async_context(
                running(argv, env=base_env() | env, cwd=scratch, log=log)
            )
        _say("tessera: starting two server processes, a worker and a scheduler")
        server = await stack.enter_async_context(serving(tessera(env=env, workers=2)))
        yield server, redis, database_url, smtp


async def _sign_up(client: httpx.AsyncClient, email: str) -> str:
    body = {
        "email": email,
        "password": "steady-" + "x" * 12,
        "full_name": "Steady",
        "terms_accepted": True,
    }
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    answer = await client.post(
        "/api/v1/auth/login", json={k: body[k] for k in ("email", "password")}
    )
    return str(answer.json()["data"]["access_token"])


async def _client(
    client: httpx.AsyncClient, tally: _Tally, token: str, n: int, stop: asyncio.Event
) -> None:
    count = 0
    while not stop.is_set():
        count += 1
        body = {
            "email": f"load-{n}-{count}@example.com",
            "password": "load-" + "y" * 12,
            "full_name": "Load",
            "terms_accepted": True,
        }
        try:
            registered = await client.post("/api/v1/auth/register", json=body)
            tally.record(registered.status_code)
            tally.registered += registered.status_code == 201
            me = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
            tally.record(me.status_code)
        except httpx.TransportError:
            tally.record(0)
        await asyncio.sleep(PACE_S)


async def _faults(tally: _Tally, redis: RedisServer, database_url: str) -> None:
    await _until(tally, REDIS_AT_S)
    _say("redis: shutting down")
    await asyncio.to_thread(redis.stop)
    await asyncio.sleep(REDIS_DOWN_S)
    await asyncio.to_thread(redis.start)
    tally.back[REDIS_AT_S] = tally.now()
    _say("redis: back")
    await _until(tally, POSTGRES_AT_S)
    _say("postgresql: terminating every connection to the database")
    name = make_url(database_url).database
    admin = await asyncpg.connect(stores.ADMIN_DATABASE_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    tally.back[POSTGRES_AT_S] = tally.now()


async def _until(tally: _Tally, at: float) -> None:
    await asyncio.sleep(max(0.0, at - (time.monotonic() - tally.started)))


async def _delivered(smtp: SmtpSink, expected: int) -> float:
    started = time.monotonic()
    while len({a.message_id for a in smtp.arrivals}) < expected:
        if time.monotonic() - started > DELIVERY_BOUND_S:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(6)  # a resend after a lease (5 s) would arrive by now
    return time.monotonic() - started


def _rows(tally: _Tally, arrivals: Sequence[Arrival], expected: int, waited: float) -> list[Row]:
    rows = []
    for second in sorted(tally.statuses):
        counts = tally.statuses[second]
        figures: dict[str, Figure] = {kind: float(n) for kind, n in sorted(counts.items())}
        rows.append(Row(f"t={second:02d} s", figures))
    faults = (("redis restart", REDIS_AT_S), ("postgresql connections killed", POSTGRES_AT_S))
    for fault, at in faults:
        rows.append(Row(f"{fault} at {at:g} s", _recovery(tally, at)))
    all_statuses: Counter[str] = Counter()
    for counts in tally.statuses.values():
        all_statuses.update(counts)
    distinct = len({arrival.message_id for arrival in arrivals})
    named = ("2xx", "503", "500")
    totals: dict[str, Figure] = {kind: float(all_statuses[kind]) for kind in named}
    totals["other"] = float(sum(n for kind, n in all_statuses.items() if kind not in named))
    rows.append(Row("totals", totals))
    rows.append(
        Row(
            "emails asked for vs delivered",
            {
                "asked": float(expected),
                "distinct_delivered": float(distinct),
                "arrivals": float(len(arrivals)),
                "seconds_after_load": round(waited, 1),
            },
        )
    )
    return rows


def _recovery(tally: _Tally, at: float) -> dict[str, Figure]:
    """Seconds from the fault to its last 503 (before the next fault), the same from the
    moment the dependency was back (Redis answering; 0 or less: no 503 after its return),
    and the longest run of consecutive seconds that had a 503."""
    until = POSTGRES_AT_S if at < POSTGRES_AT_S else LOAD_S + 1
    seconds = [s for s, c in sorted(tally.statuses.items()) if at <= s < until and c["503"]]
    longest, run, previous = 0, 0, None
    for second in seconds:
        run = run + 1 if previous is not None and second == previous + 1 else 1
        longest, previous = max(longest, run), second
    last = (seconds[-1] + 1 - at) if seconds else 0.0
    back = tally.back.get(at)
    after_back = None if back is None else round(at + last - back, 1)
    return {
        "recovered_after_s": float(last),
        "after_return_s": after_back,
        "longest_503_run_s": float(longest),
        "seconds_with_503": float(len(seconds)),
    }
