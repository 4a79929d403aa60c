"""A saturated database is a 503 with `Retry-After`, never a 500 (SPEC §6 "Resilience").

A real server process (so requests really run at once) on a real PostgreSQL, with a pool
too small for the load, or a role PostgreSQL lets open one connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.identity.conftest import PASSWORD
from tests.e2e.processes import RunningServer, running_server, tessera

pytestmark = pytest.mark.slow

CONCURRENCY = 50


@pytest.fixture
async def database(postgres_url: str) -> str:
    """A migrated database, as the service's own role sees it."""
    await services.migrate(postgres_url)
    return await services.as_app_role(postgres_url)


def server_env(database_url: str, redis_prefix: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    } | extra


@pytest.fixture
def small_pool(database: str, redis_prefix: str, tmp_path: Path) -> Iterator[RunningServer]:
    """Two connections, no overflow, and 50 ms to wait for one."""
    env = server_env(
        database,
        redis_prefix,
        DATABASE_POOL_SIZE="2",
        DATABASE_MAX_OVERFLOW="0",
        DATABASE_POOL_TIMEOUT="0.05",
    )
    with running_server(tmp_path, env) as server:
        yield server


@asynccontextmanager
async def role_limited_to_one_connection(database_url: str) -> AsyncIterator[str]:
    """A login role with the service's privileges that PostgreSQL lets hold one connection:
    the second gets sqlstate 53300, "too many connections for role"."""
    name = f"tessera_one_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(services.asyncpg_dsn(services.TEST_DATABASE_URL), timeout=3)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT 1 IN ROLE tessera_app")
        yield make_url(database_url).set(username=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


@asynccontextmanager
async def tenants_held(database_url: str) -> AsyncIterator[asyncio.Event]:
    """New tenants wait on a table lock until the event it yields is set (or 60 s pass):
    each registration that got a pooled connection keeps it meanwhile, as behind a slow
    disk, so the rest queue for the pool. (Passwords are hashed before a connection is
    taken, so without it 50 registrations need not overlap on the database at all.)"""
    connection = await asyncpg.connect(services.asyncpg_dsn(services.as_owner(database_url)))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("LOCK TABLE tenants IN EXCLUSIVE MODE")
    answered = asyncio.Event()

    async def release() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), 60)
        await transaction.rollback()

    releasing = asyncio.ensure_future(release())
    try:
        yield answered
    finally:
        answered.set()
        await releasing
        await connection.close()


def registration(email: str) -> dict[str, object]:
    return {"email": email, "password": PASSWORD, "full_name": "Load", "terms_accepted": True}


async def at_once(
    server: RunningServer, bodies: list[dict[str, object]], answered: asyncio.Event | None = None
) -> list[httpx.Response]:
    """Every registration at once; `answered` is set as the first response arrives."""
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, timeout=90, limits=limits) as client:

        async def register(body: dict[str, object]) -> httpx.Response:
            response = await client.post("/api/v1/auth/register", json=body)
            if answered is not None:
                answered.set()
            return response

        return list(await asyncio.gather(*(register(body) for body in bodies)))


def assert_only_success_or_503(responses: list[httpx.Response], *success: int) -> Counter[int]:
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {*success, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            error = response.json()["error"]
            assert error["code"] == "SERVICE_UNAVAILABLE"
            assert response.headers["retry-after"] == str(error["retry_after"]) == "1"
    return statuses


async def accounts(database_url: str, email_like: str) -> int:
    connection = await asyncpg.connect(services.asyncpg_dsn(services.as_owner(database_url)))
    try:
        query = "SELECT count(*) FROM users WHERE email LIKE $1"
        count = await connection.fetchval(query, email_like)
    finally:
        await connection.close()
    return int(count)


async def test_an_exhausted_pool_answers_503_and_keeps_every_account_whole(
    small_pool: RunningServer, database: str
) -> None:
    bodies = [registration(f"load-{n}@example.com") for n in range(CONCURRENCY)]
    async with tenants_held(database) as answered:
        statuses = assert_only_success_or_503(await at_once(small_pool, bodies, answered), 201)
    assert statuses[503] > 0, "a pool of 2 with a 50 ms wait must run out under 50 at once"
    assert statuses[201] > 0
    assert await accounts(database, "load-%") == statuses[201]  # no half-made account


async def test_fifty_registrations_of_one_email_make_exactly_one_account(
    small_pool: RunningServer, database: str
) -> None:
    bodies = [registration("same@example.com")] * CONCURRENCY
    statuses = assert_only_success_or_503(await at_once(small_pool, bodies), 201, 409)
    assert statuses[201] == 1, statuses
    assert await accounts(database, "same@example.com") == 1
    again = await at_once(small_pool, [registration("same@example.com")])
    assert again[0].status_code in (409, 503)


async def test_too_many_connections_for_the_role_is_a_503(
    database: str, redis_prefix: str, tmp_path: Path
) -> None:
    async with role_limited_to_one_connection(database) as one_connection:
        env = server_env(one_connection, redis_prefix)
        with running_server(tmp_path, env) as server:
            bodies = [registration(f"crowd-{n}@example.com") for n in range(CONCURRENCY)]
            async with tenants_held(database) as answered:
                responses = await at_once(server, bodies, answered)
                statuses = assert_only_success_or_503(responses, 201)
            assert statuses[503] > 0, "the role's second connection must be refused"
            log = "\n".join(server.lines())
        assert await accounts(database, "crowd-%") == statuses[201]
    assert "Traceback" not in log


async def test_the_cli_names_a_saturated_or_missing_database_in_one_line(
    database: str, tmp_path: Path
) -> None:
    unreachable = make_url(database).set(port=1).render_as_string(hide_password=False)
    async with role_limited_to_one_connection(database) as one_connection:
        holder = await asyncpg.connect(services.asyncpg_dsn(one_connection))
        try:
            results = {
                "refused": await asyncio.to_thread(
                    tessera, "tasks", "dead", cwd=tmp_path, env={"DATABASE_URL": unreachable}
                ),
                "saturated": await asyncio.to_thread(
                    tessera,
                    "tasks",
                    "replay",
                    str(uuid.uuid4()),
                    cwd=tmp_path,
                    env={"DATABASE_URL": one_connection},
                ),
            }
        finally:
            await holder.close()
    for result in results.values():
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "too many connections" in results["saturated"].stderr
    assert "the database is unavailable" in results["saturated"].stderr
    assert "Connect call failed" in results["refused"].stderr
