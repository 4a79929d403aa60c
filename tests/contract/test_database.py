"""The `UnitOfWork`, the database probe and pooled connections the server ended, against
SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tessera.features.ops.adapters.probes import SqlDatabaseProbe
from tessera.features.tenancy.adapters.models import TenantModel
from tessera.shared.adapters.database import SqlAlchemyUnitOfWork, create_engine
from tessera.shared.adapters.driver_reads import DriverReads
from tessera.shared.adapters.outages import outage
from tessera.shared.application.tenant_scope import TenantScope
from tests import services


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


async def _tenant_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(TenantModel))).scalar_one()
        )


async def test_committed_work_is_visible_to_other_sessions(engine: AsyncEngine) -> None:
    async with async_sessionmaker(engine)() as session:
        session.add(TenantModel(name="Acme"))
        await SqlAlchemyUnitOfWork(session).commit()
    assert await _tenant_count(engine) == 1


async def test_work_that_is_never_committed_leaves_no_trace(engine: AsyncEngine) -> None:
    async with async_sessionmaker(engine)() as session:
        session.add(TenantModel(name="Ghost"))
        await session.flush()
    assert await _tenant_count(engine) == 0


async def test_rollback_discards_flushed_changes(engine: AsyncEngine) -> None:
    async with async_sessionmaker(engine)() as session:
        unit = SqlAlchemyUnitOfWork(session)
        session.add(TenantModel(name="Undone"))
        await session.flush()
        await unit.rollback()
        session.add(TenantModel(name="Kept"))
        await unit.commit()
    async with async_sessionmaker(engine)() as session:
        names = (await session.execute(select(TenantModel.name))).scalars().all()
    assert names == ["Kept"]


async def test_ids_and_timestamps_round_trip_with_their_types(engine: AsyncEngine) -> None:
    tenant_id = uuid.uuid4()
    async with async_sessionmaker(engine)() as session:
        session.add(TenantModel(id=tenant_id, name="Typed"))
        await session.commit()
    async with async_sessionmaker(engine)() as session:
        tenant = await session.get(TenantModel, tenant_id)
    assert tenant is not None
    assert tenant.id == tenant_id
    assert tenant.is_active is True
    assert tenant.created_at.tzinfo is not None


async def test_database_probe_answers(engine: AsyncEngine) -> None:
    await SqlDatabaseProbe(engine).check()


async def test_database_probe_raises_when_postgresql_does_not_answer() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(OperationalError) as refused:  # names the database, unlike OSError
            await SqlDatabaseProbe(engine).check()
        assert isinstance(refused.value.orig, ConnectionRefusedError)
    finally:
        await engine.dispose()


async def _server_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _end_every_connection_to(url: str) -> None:
    """What a server restart, a pooler or a firewall does to an idle pooled connection."""
    admin = await asyncpg.connect(services.asyncpg_dsn(url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.1)  # the client reads the server's goodbye


@pytest.mark.postgres
async def test_a_connection_the_server_ended_while_it_sat_idle_is_replaced_before_use(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, ping_after_idle=0.2)
    try:
        ended = await _server_pid(engine)
        await _end_every_connection_to(postgres_url)
        await asyncio.sleep(0.3)
        assert await _server_pid(engine) != ended  # answered, on a new connection
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_connection_in_steady_use_is_not_pinged_so_one_unit_of_work_finds_it_gone(
    postgres_url: str,
) -> None:
    """The price of sparing every unit of work a ping: after a restart, the first one on an
    old connection fails as a lost connection (503), and the pool starts afresh."""
    engine = create_engine(postgres_url, ping_after_idle=60)
    try:
        ended = await _server_pid(engine)
        await _end_every_connection_to(postgres_url)
        with pytest.raises(DBAPIError) as lost:
            await _server_pid(engine)
        assert lost.value.connection_invalidated
        assert await _server_pid(engine) != ended
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_driver_read_on_a_connection_the_server_ended_is_an_outage_then_replaced(
    postgres_url: str,
) -> None:
    """`DriverReads` bypasses SQLAlchemy's error handling: its own error must still read as
    the database being down (503), and, as SQLAlchemy does on a disconnect, the pool must
    start afresh: after a restart only the first read fails, not one per pooled connection."""
    engine = create_engine(postgres_url, pool_size=3, max_overflow=0, ping_after_idle=60)
    reads = DriverReads(engine, TenantScope())
    backend = select(func.pg_backend_pid(), func.pg_sleep(0.2))
    try:
        pooled = await asyncio.gather(*(reads.fetch(backend, {}, reused=True) for _ in range(3)))
        ended = {rows[0][0] for rows in pooled}
        assert len(ended) == 3, "three connections in the pool"
        await _end_every_connection_to(postgres_url)
        try:
            await reads.fetch(backend, {}, reused=True)
        except Exception as error:  # asyncpg's own, unwrapped
            down = outage(error)
        else:
            pytest.fail("a read on a connection the server ended answered")
        assert down is not None
        assert down.dependency == "database"
        for _ in range(3):  # every one of them on a new connection
            assert (await reads.fetch(backend, {}, reused=True))[0][0] not in ended
    finally:
        await engine.dispose()
