"""PostgreSQL through PgBouncer in transaction mode (SPEC §6 "Scaling past one machine"):
consecutive transactions of one client run on whichever server connection is free, and one
server connection serves many clients in turn."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Integer, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera.shared.adapters.database import create_engine, scoped_session, session_factory
from tessera.shared.adapters.driver_reads import DriverReads
from tessera.shared.application.tenant_scope import TenantScope
from tests import services
from tests.pgbouncer import PgBouncer

pytestmark = pytest.mark.postgres


@pytest.fixture
async def migrated(postgres_url: str) -> str:
    await services.migrate(postgres_url)
    return postgres_url


@pytest.fixture
def two_connections() -> Iterator[PgBouncer]:
    """Two server connections, so a client's next transaction may land on the other."""
    bouncer = PgBouncer(pool_size=2, users=("postgres",))
    bouncer.start()
    yield bouncer
    bouncer.stop()


async def replicas_repeating_a_statement(engines: list[AsyncEngine]) -> None:
    """Each engine (a replica of the service) runs one statement in many short transactions."""

    async def client(engine: AsyncEngine, n: int) -> None:
        async with engine.connect() as connection:
            for _ in range(30):
                await connection.execute(text("SELECT CAST(:n AS int) + 1"), {"n": n})
                await connection.commit()
                await asyncio.sleep(0.001)

    await asyncio.gather(*(client(e, n) for e in engines for n in range(3)))


async def test_statements_survive_switching_server_connections_with_transaction_pooling(
    migrated: str, two_connections: PgBouncer
) -> None:
    url = two_connections.through(migrated)
    engines = [create_engine(url, transaction_pooling=True) for _ in range(2)]
    try:
        await replicas_repeating_a_statement(engines)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_without_it_a_cached_statement_is_missing_on_the_next_server_connection(
    migrated: str, two_connections: PgBouncer
) -> None:
    """The control: this is what DATABASE_TRANSACTION_POOLING prevents."""
    url = two_connections.through(migrated)
    engines = [create_engine(url) for _ in range(2)]
    try:
        with pytest.raises(DBAPIError, match="prepared statement"):
            await replicas_repeating_a_statement(engines)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_tenant_scope_never_reaches_the_next_client_of_a_server_connection(
    migrated: str, pgbouncer: PgBouncer
) -> None:
    url = pgbouncer.through(await services.as_app_role(migrated))
    first, second = (create_engine(url, transaction_pooling=True) for _ in range(2))
    acme = uuid.uuid4()
    try:
        scope = TenantScope()
        scope.enter(acme)
        async with scoped_session(session_factory(first), scope) as session, session.begin():
            seen = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
        async with second.connect() as connection:  # another client, the same server session
            after = (
                await connection.execute(
                    text("SELECT pg_backend_pid(), current_setting('app.tenant_id', true)")
                )
            ).one()
    finally:
        await first.dispose()
        await second.dispose()
    assert seen == str(acme)
    assert after[0] == pid, "one server connection: the second client had to get the same one"
    assert after[1] in (None, "")


async def test_driver_reads_switch_server_connections_with_transaction_pooling(
    migrated: str, two_connections: PgBouncer
) -> None:
    """`DriverReads` run asyncpg's own statements (unnamed, with its cache off) on the
    pooled connections of engines made for a transaction pooler."""
    url = two_connections.through(migrated)
    engines = [create_engine(url, transaction_pooling=True) for _ in range(2)]
    scope = TenantScope()
    scope.across_tenants("test: pages through a pooler")
    page = select(bindparam("n", type_=Integer) + 1)

    async def client(engine: AsyncEngine, n: int) -> list[int]:
        reads = DriverReads(engine, scope)
        return [(await reads.fetch(page, {"n": n}, reused=True))[0][0] for _ in range(30)]

    try:
        answers = await asyncio.gather(*(client(e, n) for e in engines for n in range(3)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert answers == [[n + 1] * 30 for _ in engines for n in range(3)]
