"""An admin lists 20 of 202 users on PostgreSQL: Tessera against its asyncpg floor.

Tessera runs in production mode (`tessera serve --workers 1`, a throwaway PostgreSQL
database, the tests' Redis under a key prefix of the run's own). 201 users register through
the API and `tessera create-admin` makes the 202nd, who signs in; then wrk loads
`GET /api/v1/users?page=1&limit=20` with the admin's token.

The floor (`bench.floor_users_app`) is a bare Litestar app under the same granian setup with
one handler: the two statements Tessera sent for that page (the count, then the page's
select: captured from PostgreSQL's statement log; Tessera now reads both in one), through
a plain asyncpg pool of Tessera's pool size, answering the same JSON envelope. It has no
authentication, tenant scope, rate limit, session, unit of work or middleware: the ratio is
what those cost, on top of the database work both do.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import identity, page_layers, stores
from bench.core import Figure, Options, Row
from bench.load import LoadResult, LoadSpec, Request, bearer, run_load, wrk_missing
from bench.servers import Server, ServerSpec, base_env, floor, serving, tessera
from tessera.main import migrations

NAME = "users_list"
TITLE = "An admin lists 20 of 202 users (PostgreSQL) vs an asyncpg floor"

USERS = 201
"""Registered through the API; the admin is the 202nd."""
PAGE_SIZE = 20
PAGE = f"/api/v1/users?page=1&limit={PAGE_SIZE}"
FLOOR_PAGE = f"/users?page=1&limit={PAGE_SIZE}"
POOL_SIZE = 20
"""The floor's asyncpg pool: as many connections as Tessera's default pool."""
ADMIN = identity.User("admin@example.com", f"admin-{secrets.token_hex(8)}")

NOTES = (
    f"`GET {PAGE}` as an admin, who sees every tenant's users: a count of the live users and "
    f"a page of {PAGE_SIZE}, newest first. The floor runs the same two statements on a plain "
    f"asyncpg pool ({POOL_SIZE} connections) and answers the same envelope (`data`, "
    "`pagination`).",
    f"wrk (one thread), the server, PostgreSQL and Redis share this machine's "
    f"{os.cpu_count()} cores. CPU is the share of one core during the window; server CPU "
    "ms/req is the server's cost per answer whatever the rate. The ratio row is Tessera over "
    "the floor: below 1 for req/s, above 1 for p99 and CPU ms/req mean Tessera is slower.",
    "The `in process` rows read the same page in the benchmark's own process, one layer "
    "added at a time (`bench.page_layers`): what asyncpg alone, the tenant scope's "
    "transaction, SQLAlchemy, Tessera's unit of work (the lists' path on SQLite) and its "
    "list read on PostgreSQL (asyncpg on a pooled connection) each cost, in CPU ms per page.",
)


def setup(opts: Options) -> str:
    return (
        f"Closed loop (wrk, one thread), {opts.concurrency} keep-alive connections, "
        f"{opts.warmup:g} s warm-up then {opts.duration:g} s measured per server; "
        f"`tessera serve --workers 1`, {USERS + 1} users."
    )


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


async def not_ready() -> str | None:
    """Why a wrk benchmark on PostgreSQL and Redis cannot run here (and what to do), or
    None."""
    reason = wrk_missing() or await stores.missing_service()
    if reason is None or "wrk" in reason:
        return reason
    return f"{reason}; {stores.HOW_TO_START}"


async def run(opts: Options) -> list[Row]:
    if (why := await not_ready()) is not None:
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    async with _rig() as (tessera_server, floor_server, token, database_url):
        _say(f"floor: GET {FLOOR_PAGE}, {opts.concurrency} connections")
        floor_result = await run_load(_spec(floor_server, Request(FLOOR_PAGE), opts))
        _say(f"tessera: GET {PAGE}, {opts.concurrency} connections")
        admin_page = Request(PAGE, headers=bearer(token))
        tessera_result = await run_load(_spec(tessera_server, admin_page, opts))
        _say(f"in process: the same page read {page_layers.READS} times per layer")
        layers = await page_layers.measure(database_url)
    c = opts.concurrency
    return [
        Row(f"floor: asyncpg, the same two statements, c={c}", floor_result.figures()),
        Row(f"tessera GET /users?page=1&limit={PAGE_SIZE}, c={c}", tessera_result.figures()),
        Row("tessera / floor", _versus_floor(tessera_result, floor_result), ratio=True),
        *layers,
    ]


@asynccontextmanager
async def _rig() -> AsyncIterator[tuple[Server, Server, str, str]]:
    """Tessera and the floor on one seeded database; the admin's access token; the
    database's URL."""
    async with AsyncExitStack() as stack:
        _say("creating and migrating a PostgreSQL database")
        database_url, env, scratch = await stack.enter_async_context(
            production_stores("bench-users-")
        )
        _say("tessera: starting (production stores, one worker)")
        server = await stack.enter_async_context(serving(tessera(env=env, cwd=scratch, workers=1)))
        users = [
            identity.User(f"user{n:03d}@example.com", f"bench-{secrets.token_hex(8)}")
            for n in range(USERS)
        ]
        await identity.register(server.base_url, users)
        await create_admin(env, scratch)
        (token,) = await identity.sign_in(server.base_url, [ADMIN])
        _say("floor: starting")
        floor_server = await stack.enter_async_context(serving(floor_users(database_url)))
        yield server, floor_server, token, database_url


@asynccontextmanager
async def production_stores(scratch_prefix: str) -> AsyncIterator[tuple[str, dict[str, str], Path]]:
    """A migrated throwaway PostgreSQL database, a Redis key prefix of the run's own and a
    scratch folder: the database's URL, Tessera's environment on them, and the folder."""
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=scratch_prefix)))
        yield database_url, tessera_env(database_url, prefix, scratch), scratch


def tessera_env(database_url: str, prefix: str, scratch: Path) -> dict[str, str]:
    return {
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": stores.REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET_KEY": secrets.token_urlsafe(30),
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(scratch / "data"),
        "RATE_LIMIT_AUTH_PER_MINUTE": identity.RAISED_LIMIT,
        "RATE_LIMIT_API_PER_MINUTE": identity.RAISED_LIMIT,
        "RATE_LIMIT_ADMIN_PER_MINUTE": identity.RAISED_LIMIT,
    }


async def create_admin(env: Mapping[str, str], scratch: Path) -> None:
    """`tessera create-admin` for `ADMIN`, with the server's settings."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tessera",
        "create-admin",
        "--email",
        ADMIN.email,
        "--password",
        ADMIN.password,
        "--full-name",
        "Bench Admin",
        cwd=scratch,
        env=base_env() | dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"tessera create-admin failed: {output.decode(errors='replace')}")


def floor_users(database_url: str) -> ServerSpec:
    """`bench.floor_users_app`, run as `bench.servers.floor` runs the plain floor."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    return floor(
        "bench.floor_users_app:app",
        name="floor-users",
        env={"FLOOR_DATABASE_URL": dsn, "FLOOR_POOL_SIZE": str(POOL_SIZE)},
    )


def _spec(server: Server, request: Request, opts: Options) -> LoadSpec:
    return LoadSpec(
        url=server.base_url,
        requests=[request],
        concurrency=opts.concurrency,
        duration=opts.duration,
        warmup=opts.warmup,
        cpu_clocks={"server": server.cpu_seconds},
    )


def _versus_floor(top: LoadResult, floor: LoadResult) -> dict[str, Figure]:
    def quotient(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    return {
        "rps": quotient(top.rps, floor.rps),
        "p50_ms": quotient(top.p50_ms, floor.p50_ms),
        "p99_ms": quotient(top.p99_ms, floor.p99_ms),
        "server_cpu_ms_per_req": quotient(
            top.cpu_ms_per_request("server"), floor.cpu_ms_per_request("server")
        ),
    }
