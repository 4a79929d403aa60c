"""Real PostgreSQL and Redis for the tests: reachability, throwaway databases, key prefixes.

A service that does not answer skips its tests with one loud line, or fails them when
`REQUIRE_SERVICES=1` (as in CI), so a green run can never hide a missing service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera.main import migrations
from tessera.shared.adapters.database import create_engine

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
HOW_TO_START = "start it with `uv run just services`"
unavailable: dict[str, str] = {}


def require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def service_missing(name: str, url: str, error: BaseException) -> None:
    line = f"{name} is not reachable at {_mask(url)} ({type(error).__name__}): {HOW_TO_START}"
    unavailable[name] = line
    if require_services():
        pytest.fail(f"REQUIRE_SERVICES=1 but {line}", pytrace=False)
    pytest.skip(line)


def _mask(where: str) -> str:
    """A URL with its password hidden; anything else (a program's name) as it is."""
    try:
        return make_url(where).render_as_string(hide_password=True)
    except ArgumentError:
        return where


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def check_postgres() -> None:
    try:
        connection = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        service_missing("PostgreSQL", TEST_DATABASE_URL, error)
    else:
        await connection.close()


async def check_redis() -> None:
    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:  # any failure means "not usable"
        service_missing("Redis", TEST_REDIS_URL, error)
    finally:
        await client.aclose()


APP_ROLE = "tessera_app"
"""The role the service connects as on PostgreSQL (created by migration 0006): it owns no
table and cannot bypass row-level security, unlike the superuser the tests migrate with."""


async def as_app_role(migrated_url: str) -> str:
    """The URL of `migrated_url`'s database for the app role, which may log in from now on
    (trust authentication here; a deployment gives it a password)."""
    admin = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL), timeout=3)
    try:
        can_login = await admin.fetchval(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
        if can_login is None:
            raise RuntimeError(f"role {APP_ROLE} is missing: migrate the database first")
        if not can_login:
            # another test process may do it at the same moment: either way it can log in
            with contextlib.suppress(asyncpg.PostgresError):
                await admin.execute(f"ALTER ROLE {APP_ROLE} LOGIN")
    finally:
        await admin.close()
    return make_url(migrated_url).set(username=APP_ROLE).render_as_string(hide_password=False)


def as_owner(url: str) -> str:
    """The same database as the tests' own user (the owner, who migrated it): for setting
    up rows straight in the database, past row-level security. SQLite URLs pass through."""
    if not url.startswith("postgresql"):
        return url
    owner = make_url(TEST_DATABASE_URL)
    return (
        make_url(url)
        .set(username=owner.username, password=owner.password)
        .render_as_string(hide_password=False)
    )


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    await check_postgres()
    name = f"tessera_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL), timeout=3)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def redis_namespace() -> AsyncIterator[str]:
    """A key prefix of one test's own; its keys are deleted afterwards."""
    await check_redis()
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _migrations_digest() -> str:
    """What a template is named by: the migration scripts' bytes, so a changed script makes
    a new template instead of copying a stale one."""
    digest = hashlib.sha256()
    folder = migrations.migrations_dir()
    for script in sorted(folder.rglob("*.py")):
        digest.update(script.relative_to(folder).as_posix().encode())
        digest.update(script.read_bytes())
    return digest.hexdigest()[:12]


MIGRATIONS_DIGEST = _migrations_digest()


async def migrate(url: str) -> None:
    """Brings a new, empty database to the head migration, in a fraction of the time.

    The migrations run once per migration set into a template, and each test's database is
    a copy of it: a file copy for SQLite, `CREATE DATABASE ... TEMPLATE` on the tests'
    PostgreSQL server. A database anywhere else (a test's own PostgreSQL cluster) is
    migrated. Tests of the migrations themselves call `migrations.upgrade`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        shutil.copyfile(await asyncio.to_thread(_sqlite_template), parsed.database)
        return
    server = make_url(TEST_DATABASE_URL)
    if (parsed.host, parsed.port) != (server.host, server.port) or not parsed.database:
        await asyncio.to_thread(migrations.upgrade, url)
        return
    admin = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL), timeout=3)
    try:
        template = await _postgres_template(admin)
        await admin.execute(f'DROP DATABASE "{parsed.database}"')
        await _while_in_use(admin, f'CREATE DATABASE "{parsed.database}" TEMPLATE "{template}"')
    finally:
        await admin.close()


def _sqlite_template() -> str:
    """A migrated SQLite file shared by every test process; processes that build it at the
    same moment each build their own and the last rename wins (they are the same)."""
    template = Path(tempfile.gettempdir()) / f"tessera-test-template-{MIGRATIONS_DIGEST}.db"
    if not template.exists():
        building = template.with_suffix(f".{os.getpid()}.building")
        building.unlink(missing_ok=True)
        migrations.upgrade(f"sqlite+aiosqlite:///{building}")
        building.replace(template)
    return str(template)


async def _postgres_template(admin: asyncpg.Connection) -> str:
    """The template database at head, built under an advisory lock by the first test process
    that needs it, under another name until it is complete; nobody may connect to it."""
    template = f"tessera_template_{MIGRATIONS_DIGEST}"
    await admin.execute("SELECT pg_advisory_lock(hashtext('tessera-test-template'))")
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template):
            return template
        building = f"{template}_building"
        await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{building}"')
        await asyncio.to_thread(
            migrations.upgrade,
            make_url(TEST_DATABASE_URL).set(database=building).render_as_string(False),
        )
        await _while_in_use(admin, f'ALTER DATABASE "{building}" RENAME TO "{template}"')
        await admin.execute(f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false')
        return template
    finally:
        await admin.execute("SELECT pg_advisory_unlock(hashtext('tessera-test-template'))")


async def _while_in_use(admin: asyncpg.Connection, statement: str) -> None:
    """Runs `statement`, again while a connection that just closed is still leaving the
    template (PostgreSQL ends a backend a moment after its client hangs up)."""
    for _ in range(50):
        try:
            await admin.execute(statement)
        except asyncpg.ObjectInUseError:
            await asyncio.sleep(0.1)
        else:
            return
    await admin.execute(statement)


@asynccontextmanager
async def migrated(kind: str, folder: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head: SQLite in `folder` (`kind` "sqlite"), or
    a throwaway PostgreSQL one."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'migrated.db'}"
    async with contextlib.AsyncExitStack() as stack:
        if kind != "sqlite":
            url = await stack.enter_async_context(throwaway_database())
        await migrate(url)
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()
