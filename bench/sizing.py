"""What one request of each main route costs: the figures docs/operations.md sizes from.

Tessera runs in production mode (`tessera serve --workers 1`) on a PostgreSQL cluster and a
`redis-server` started for this run alone, so every counter they keep is this run's:
PostgreSQL preloads `pg_stat_statements`. Users are registered and logged in once; then, one
route after the other, wrk loads it (one thread, a warm-up, then the measured window) and the
counters are read before and after the window:

- the server's CPU (all of granian's processes and threads, argon2's included) per request,
  and so the requests one core serves when it does nothing else;
- Redis commands per request (`INFO commandstats`) and Redis CPU per request (`INFO cpu`);
- PostgreSQL statements (transaction control left out) and transactions per request, the
  backends' CPU, and the time a connection is held in a transaction per request (what a
  transaction-pooling PgBouncer lends it for).

Last, `redis-benchmark` on the same Redis: what one Redis core serves of plain commands.
Counts per request hold however busy the machine was; req/s and p99 do not.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from tests.postgres_cluster import PostgresCluster
from tests.redis_server import RedisServer

from bench import counters, identity, stores
from bench.core import Figure, Options, Row
from bench.load import Request, WrkRun, bearer, wrk
from bench.servers import Server, serving, tessera
from tessera.main import migrations

NAME = "sizing"
TITLE = "Per-request costs for sizing: server CPU per route, Redis and PostgreSQL work"

USERS = 50
ME_CONNECTIONS = 16
LOGIN_CONNECTIONS = 4
"""Logins take tens of milliseconds of CPU each: a few connections keep the server busy."""
SETTLE_S = 1.2
"""PostgreSQL publishes a backend's statistics at most once a second."""
REDIS_BENCHMARK_ROW = "Redis, redis-benchmark, one core"
REDIS_LOAD_ROW = "Redis, Tessera's load"
REDIS_BENCHMARK = ("-t", "get,set,incr", "-n", "200000", "-c", "50", "--csv")

NOTES = (
    "Per request: CPU milliseconds and counts are the window's totals divided by the "
    "requests wrk completed in it, so they hold however busy the machine was. `per core` is "
    "1000 / server CPU ms: the requests one core serves when it does nothing else. req/s and "
    f"p99 are this machine's ({os.cpu_count()} cores shared by wrk, the server, PostgreSQL and "
    "Redis, and anything else running): read them as a check, not a capacity. `load` is the "
    "1-minute load average when the case started.",
    "`GET /users/me` cycles through the users' tokens; `PUT /users/me` changes each user's "
    "full name (a write: an UPDATE, the profile cache dropped); `POST /auth/login` verifies "
    "an argon2id hash and opens a session.",
    "PostgreSQL `held ms` is active plus idle-in-transaction time per request "
    "(`pg_stat_database`): a pool of N connections serves about N x 1000 / held ms requests "
    "per second. `pg CPU` is the backends' CPU.",
    "Redis counts every command it executes, those a Lua script runs included "
    "(`redis_mix`: an `evalsha` and the commands after it in the list may be one round trip).",
    "The Redis rows: `redis-benchmark` (50 connections, no pipelining) on this run's Redis, "
    "and the commands one Redis CPU second served during Tessera's load (which batches "
    "commands, so it gets more out of a core).",
    "Bytes per WebSocket are in the realtime benchmark, emails per worker in email_pipeline, "
    "webhook deliveries per worker in realtime.",
)


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    connections: int
    requests: Sequence[Request]

    @property
    def row_name(self) -> str:
        return f"{self.name}, c={self.connections}"


@dataclass(frozen=True)
class _Rig:
    server: Server
    redis: Redis
    redis_port: int
    admin: AsyncConnection
    database: str


def setup(opts: Options) -> str:
    return (
        f"wrk -t1 --latency, {opts.warmup:g} s warm-up then {opts.duration:g} s per route; "
        f"/users/me on {ME_CONNECTIONS} connections, logins on {LOGIN_CONNECTIONS}; "
        f"`tessera serve --workers 1`, {USERS} users, a PostgreSQL cluster and a Redis of the "
        "run's own."
    )


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


async def run(opts: Options) -> list[Row]:
    missing = [tool for tool in ("wrk", "redis-benchmark") if shutil.which(tool) is None]
    if missing:
        why = f"{' and '.join(missing)} not installed"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    users = [
        identity.User(f"size{n}@example.com", f"size-{secrets.token_hex(8)}") for n in range(USERS)
    ]
    rows = []
    totals = counters.RedisCount({}, 0.0)
    with tempfile.TemporaryDirectory(prefix="bench-sizing-") as folder:
        async with _rig(Path(folder)) as rig:
            tokens = await identity.enrol(rig.server.base_url, users)
            for case in cases(users, tokens):
                row, used = await _measure(rig, case, opts)
                rows.append(row)
                totals += used
            _say("redis-benchmark")
            rates = await _redis_benchmark(rig.redis_port)
    return [*rows, *redis_rows(rates, totals)]


def redis_rows(rates: Mapping[str, float], load: counters.RedisCount) -> list[Row]:
    """What one Redis core serves: plain commands, and Tessera's as it sends them."""
    per_cpu_s = load.commands / load.cpu_s if load.cpu_s > 0 else None
    return [
        Row(REDIS_BENCHMARK_ROW, {f"{test}_per_s": rate for test, rate in rates.items()}),
        Row(REDIS_LOAD_ROW, {"cmds_per_cpu_s": per_cpu_s}),
    ]


def cases(users: Sequence[identity.User], tokens: Sequence[str]) -> list[Case]:
    me, login = identity.ME, identity.LOGIN
    reads = [Request(me, headers=bearer(token)) for token in tokens]
    renames = [
        Request.json(me, {"full_name": f"Name {n}"}, method="PUT", token=token)
        for n, token in enumerate(tokens)
    ]
    logins = [Request.json(login, {"email": u.email, "password": u.password}) for u in users]
    return [
        Case(f"GET {me}", me, ME_CONNECTIONS, reads),
        Case(f"PUT {me}", me, ME_CONNECTIONS, renames),
        Case(f"POST {login}", login, LOGIN_CONNECTIONS, logins),
    ]


async def _measure(rig: _Rig, case: Case, opts: Options) -> tuple[Row, counters.RedisCount]:
    url = rig.server.base_url
    load = os.getloadavg()[0]
    _say(f"{case.name}: warm-up")
    await _wrk(url, case, max(opts.warmup, 1.0))
    await asyncio.sleep(SETTLE_S)
    _say(f"{case.name}: {case.connections} connections, {opts.duration:g} s")
    server_cpu = rig.server.cpu_seconds()
    redis_before = await _redis_count(rig.redis)
    pg_before = await counters.postgres_count(rig.admin, rig.database)
    backends_before = await _backend_cpu(rig.admin, rig.database)
    run = await _wrk(url, case, opts.duration)
    server_cpu = rig.server.cpu_seconds() - server_cpu
    redis_used = await _redis_count(rig.redis) - redis_before
    await asyncio.sleep(SETTLE_S)
    pg_used = await counters.postgres_count(rig.admin, rig.database) - pg_before
    backends_after = await _backend_cpu(rig.admin, rig.database)
    pg_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
    n = run.requests
    cpu_ms = server_cpu * 1000 / n
    figures: dict[str, Figure] = {
        "rps": run.rps,
        "p99_ms": run.p99_ms,
        "server_cpu_ms_per_req": cpu_ms,
        "per_core_rps": 1000 / cpu_ms,
        "redis_cmds_per_req": redis_used.commands / n,
        "redis_cpu_us_per_req": redis_used.cpu_s * 1e6 / n,
        "pg_stmts_per_req": None if pg_used.statements is None else pg_used.statements / n,
        "pg_xacts_per_req": pg_used.transactions / n,
        "pg_cpu_ms_per_req": pg_cpu * 1000 / n,
        "pg_held_ms_per_req": pg_used.held_ms / n,
        "load": load,
        "redis_mix": redis_used.mix(n),
    }
    return Row(case.row_name, figures), redis_used


async def _wrk(url: str, case: Case, seconds: float) -> WrkRun:
    # A login waits its turn for the hasher: wrk's default 2 s timeout would cut it short.
    run = await wrk(
        url, case.requests, connections=case.connections, seconds=seconds, request_timeout=30
    )
    if run.errors:  # counts per request would then mix in requests that did something else
        raise RuntimeError(f"{case.name}: errors under load: {run.errors}")
    return run


async def _redis_count(client: Redis) -> counters.RedisCount:
    return counters.redis_count([(await client.info("commandstats"), await client.info("cpu"))])


async def _redis_benchmark(port: int) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        "redis-benchmark",
        "-p",
        str(port),
        *REDIS_BENCHMARK,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    return counters.parse_redis_benchmark(output.decode())


async def _backend_cpu(admin: AsyncConnection, database: str) -> dict[int, float]:
    """CPU seconds so far of each backend connected to `database`, from /proc."""
    found = await admin.execute(
        text("SELECT pid FROM pg_stat_activity WHERE datname = :database"),
        {"database": database},
    )
    return {pid: cpu for (pid,) in found if (cpu := _process_cpu(int(pid))) is not None}


def _process_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:  # it ended meanwhile
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@asynccontextmanager
async def _rig(folder: Path) -> AsyncIterator[_Rig]:
    """PostgreSQL with pg_stat_statements, a Redis and Tessera on them; all gone on the way out."""
    async with AsyncExitStack() as stack:
        _say("starting a PostgreSQL cluster (pg_stat_statements) and a Redis")
        cluster = PostgresCluster("shared_preload_libraries=pg_stat_statements")
        await asyncio.to_thread(cluster.create)
        stack.callback(cluster.destroy)
        redis_server = RedisServer(folder / "redis", persistent=False)
        await asyncio.to_thread(redis_server.start)
        stack.callback(redis_server.stop)
        engine = create_async_engine(cluster.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        stack.push_async_callback(engine.dispose)
        admin = await stack.enter_async_context(engine.connect())
        await admin.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        database_url = await stack.enter_async_context(stores.throwaway_database(cluster.url))
        await asyncio.to_thread(migrations.upgrade, database_url)
        env = {
            "ENVIRONMENT": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "JWT_SECRET_KEY": secrets.token_urlsafe(30),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(folder / "data"),
            "RATE_LIMIT_AUTH_PER_MINUTE": identity.RAISED_LIMIT,
            "RATE_LIMIT_API_PER_MINUTE": identity.RAISED_LIMIT,
            "RATE_LIMIT_ADMIN_PER_MINUTE": identity.RAISED_LIMIT,
        }
        _say("tessera: starting (production stores, one worker)")
        server = await stack.enter_async_context(serving(tessera(env=env, cwd=folder, workers=1)))
        redis = Redis.from_url(redis_server.url)
        stack.push_async_callback(redis.aclose)
        database = make_url(database_url).database
        assert database is not None
        yield _Rig(server, redis, redis_server.port, admin, database)
