"""PostgreSQL and Redis for production-mode benchmarks: a database and a key prefix of a
run's own, gone afterwards.

The servers are the tests' (`TEST_DATABASE_URL`, `TEST_REDIS_URL`, started with
`uv run just services`). The database is created empty and dropped `WITH (FORCE)`, so
connections a crashed process left behind do not keep it alive; the prefix's keys are
deleted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
HOW_TO_START = "start them with `uv run just services`"
_CONNECT_TIMEOUT_S = 3.0


def _asyncpg(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _admin_engine(url: str) -> AsyncEngine:
    return create_async_engine(
        _asyncpg(url),
        isolation_level="AUTOCOMMIT",  # CREATE/DROP DATABASE refuse to run in a transaction
        poolclass=NullPool,
        connect_args={"timeout": _CONNECT_TIMEOUT_S},
    )


async def missing_service(
    database_url: str = ADMIN_DATABASE_URL, redis_url: str = REDIS_URL
) -> str | None:
    """Why the services cannot be used, or None when both answer."""
    engine = _admin_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not usable"
        return f"PostgreSQL not reachable at {_masked(database_url)} ({type(error).__name__})"
    finally:
        await engine.dispose()
    client = Redis.from_url(redis_url, socket_connect_timeout=_CONNECT_TIMEOUT_S)
    try:
        await client.ping()
    except Exception as error:  # any failure means "not usable"
        return f"Redis not reachable at {_masked(redis_url)} ({type(error).__name__})"
    finally:
        await client.aclose()
    return None


@asynccontextmanager
async def throwaway_database(admin_url: str = ADMIN_DATABASE_URL) -> AsyncIterator[str]:
    """The URL (asyncpg driver) of a new, empty database; dropped on the way out."""
    name = f"tessera_bench_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(admin_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(_asyncpg(admin_url)).set(database=name).render_as_string(False)
        finally:
            async with engine.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@asynccontextmanager
async def redis_namespace(url: str = REDIS_URL) -> AsyncIterator[str]:
    """A key prefix of this run's own (`bench:<hex>:`); its keys are deleted on the way out."""
    prefix = f"bench:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
