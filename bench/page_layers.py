"""Where a list page's time goes below HTTP: the same page read, one layer added at a time.

In the benchmark's own process, one reader at a time on one connection, the page the users
list answers (20 of the live users, newest first, with the window count) is read over and
over: by asyncpg alone; by asyncpg in a transaction that first sets the tenant scope (what
row-level security needs, as Tessera does it: three more round trips); by SQLAlchemy Core
on a pooled connection; by Tessera's own unit of work (`scoped_session`, the tenant
scope, `SqlUserRepository.find`, entities), which lists use on SQLite; and by the list's
read on PostgreSQL (`DriverUserSearch`: the same statement, run by asyncpg on a pooled
connection, BEGIN and the scope in one message). Each row is CPU milliseconds of this process
per page; PostgreSQL's own work is not in it. The differences between rows are what each
layer costs, beside the whole request's server CPU in the load rows above.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import cast

import asyncpg
from sqlalchemy import func, over, select
from sqlalchemy.engine import make_url

import tessera.main.models  # noqa: F401 - every table, so the users' foreign keys resolve
from bench.core import Row
from tessera.features.identity.adapters.models import UserModel
from tessera.features.identity.adapters.sql_users import (
    DriverUserSearch,
    SqlUserRepository,
    to_entity,
)
from tessera.features.identity.application.ports import UserFilter
from tessera.shared.adapters.database import create_engine, scoped_session, session_factory
from tessera.shared.adapters.driver_reads import DriverReads
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.pagination import PageRequest

PAGE_SIZE = 20
READS = 2000
_SCOPE = "SELECT set_config('app.tenant_id', $1, true), set_config('app.all_tenants', $2, true)"


async def measure(database_url: str) -> list[Row]:
    """One row per layer: CPU ms of this process per page read, and pages per second."""
    U = UserModel
    page = (
        select(*U.__table__.columns)
        .where(U.deleted_at.is_(None))
        .order_by(U.created_at.desc(), U.id.desc())
        .limit(PAGE_SIZE)
        .add_columns(over(func.count()))
    )
    engine = create_engine(database_url)
    sql = str(page.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    raw = await asyncpg.connect(dsn)
    factory = session_factory(engine)
    try:
        statement = await raw.prepare(sql)

        async def raw_read() -> int:
            return len(await statement.fetch())

        async def raw_scoped_read() -> int:
            async with raw.transaction():
                await raw.execute(_SCOPE, "", "on")
                return len(await statement.fetch())

        async def core_read() -> int:
            async with engine.connect() as connection:
                rows = await connection.execute(page)  # a row has the model's attribute names
                return len([to_entity(cast(UserModel, row)) for row in rows])

        async def unit_of_work_read() -> int:
            scope = TenantScope()
            scope.across_tenants("bench: an admin lists every tenant's users")
            async with scoped_session(factory, scope) as session:
                found = await SqlUserRepository(session).find(
                    UserFilter(), PageRequest(limit=PAGE_SIZE)
                )
                return len(found.items)

        async def driver_read() -> int:
            scope = TenantScope()
            scope.across_tenants("bench: an admin lists every tenant's users")
            search = DriverUserSearch(DriverReads(engine, scope))
            found = await search.find(UserFilter(), PageRequest(limit=PAGE_SIZE))
            return len(found.items)

        layers: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("asyncpg: the page's statement", raw_read),
            ("asyncpg: in a transaction, tenant scope set first", raw_scoped_read),
            ("SQLAlchemy Core connection, rows to entities", core_read),
            ("Tessera's unit of work: scoped session, repository, entities", unit_of_work_read),
            ("Tessera's list read: DriverUserSearch, pooled connection, entities", driver_read),
        ]
        return [Row(f"in process: {name}", await _timed(read)) for name, read in layers]
    finally:
        await raw.close()
        await engine.dispose()


async def _timed(read: Callable[[], Awaitable[int]]) -> dict[str, float | int | str | None]:
    for _ in range(READS // 10):  # warm: prepared statements, compiled caches, the pool
        await read()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(READS):
        rows = await read()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "rps": READS / wall,
        "client_cpu_ms_per_req": 1000 * cpu / READS,
        "rows": rows,
    }
