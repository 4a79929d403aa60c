"""A database read on every request, straight to PostgreSQL and through PgBouncer.

The same Tessera (production mode, one server process) twice on one migrated database:
once with `DATABASE_URL` on PostgreSQL, once through PgBouncer in transaction mode with
`DATABASE_TRANSACTION_POOLING=true` (no cached prepared statements). The load is
`GET /api/v1/notifications`, which reads PostgreSQL on every request (the profile cache that
spares `/users/me` the database does not apply), cycling through signed-in users.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from tests.pgbouncer import PgBouncer

from bench import stores
from bench.core import Figure, Options, Row
from bench.identity import RAISED_LIMIT, User, _spec, enrol
from bench.load import LoadResult, Request, bearer, run_load
from bench.servers import Server, serving, tessera
from tessera.main import migrations

NAME = "pooler"
TITLE = "A database read per request: PostgreSQL directly vs through PgBouncer"

USERS = 20
INBOX = "/api/v1/notifications"
POOL_SIZE = 20
"""PgBouncer's server connections per database and role: Tessera's own pool size."""

NOTES = (
    f"`GET {INBOX}` on the run's concurrency, {USERS} users, one server process; the server, "
    "PgBouncer, PostgreSQL, Redis and the load generator share this machine's cores. "
    f"PgBouncer: transaction mode, {POOL_SIZE} server connections. The ratio row is "
    "through PgBouncer over direct.",
)


def setup(opts: Options) -> str:
    return (
        f"Closed loop, {opts.warmup:g} s warm-up then {opts.duration:g} s measured per case, "
        f"{opts.concurrency} connections; `tessera serve --workers 1`."
    )


async def run(opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        return [Row("not run", {"why": f"{reason}; {stores.HOW_TO_START}"})]
    users = [User(f"pool{n}@example.com", f"bench-{secrets.token_hex(8)}") for n in range(USERS)]
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        bouncer = PgBouncer(pool_size=POOL_SIZE, users=("postgres",))
        bouncer.start()
        stack.callback(bouncer.stop)
        prefix = await stack.enter_async_context(stores.redis_namespace())  # sessions shared
        results: dict[str, LoadResult] = {}
        tokens: list[str] = []
        for name, url, pooling in (
            ("direct", database_url, "false"),
            ("pgbouncer", bouncer.through(database_url), "true"),
        ):
            async with _tessera(url, pooling, prefix) as server:
                if not tokens:
                    tokens = await enrol(server.base_url, users)
                requests = [Request(INBOX, headers=bearer(token)) for token in tokens]
                _say(f"{name}: GET {INBOX}, {opts.concurrency} connections")
                results[name] = await run_load(_spec(server, requests, opts.concurrency, opts))
    return _rows(results["direct"], results["pgbouncer"])


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


@asynccontextmanager
async def _tessera(database_url: str, pooling: str, prefix: str) -> AsyncIterator[Server]:
    async with AsyncExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pool-")))
        env = {
            "DATABASE_URL": database_url,
            "DATABASE_TRANSACTION_POOLING": pooling,
            "REDIS_URL": stores.REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET_KEY": "bench-" + "k" * 40,
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(scratch / "data"),
            "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
            "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        }
        yield await stack.enter_async_context(serving(tessera(env=env, cwd=scratch, workers=1)))


def _rows(direct: LoadResult, pooled: LoadResult) -> list[Row]:
    def quotient(top: float | None, bottom: float | None) -> float | None:
        return None if top is None or not bottom else top / bottom

    ratio: dict[str, Figure] = {
        "rps": quotient(pooled.rps, direct.rps),
        "p50_ms": quotient(pooled.p50_ms, direct.p50_ms),
        "p99_ms": quotient(pooled.p99_ms, direct.p99_ms),
    }
    return [
        Row(f"GET {INBOX}, direct", direct.figures()),
        Row(f"GET {INBOX}, through PgBouncer", pooled.figures()),
        Row("PgBouncer / direct", ratio, ratio=True),
    ]
