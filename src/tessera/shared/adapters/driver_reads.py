"""Hot reads on PostgreSQL run by asyncpg itself: SQLAlchemy builds and compiles the
statement once, the engine's pool lends the connection, asyncpg runs it. Decision record
0015 says why (a list page's SQLAlchemy execution cost three times the read) and when to
delete this."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncpg import Connection, Record
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera.shared.adapters.database import suspect_pooled_connections
from tessera.shared.adapters.outages import outage
from tessera.shared.application.tenant_scope import ScopeState, TenantScope

_COMPILED: dict[Select[Any], _Compiled] = {}
"""Compiled forms of the statements callers reuse (a list's page of one shape)."""
_MAX_COMPILED = 1024


class DriverReads:
    """Reads in one tenant scope, each a read-only transaction of its own on a connection
    of the engine's pool: BEGIN and the scope in one message, the statement, COMMIT.

    What a read sees is what is committed: not the writes of a unit of work still open.
    Rows come as asyncpg gives them (`uuid.UUID`, aware `datetime`, `str`, `bool`, `int`);
    a column that needs SQLAlchemy's result processing (JSON, an enum type) is not for
    this path. A failed or cancelled read discards its connection (the pool opens
    another): it may be mid-transaction or dead. When the database ended it, every pooled
    connection is pinged before its next use, as SQLAlchemy would invalidate them all.
    asyncpg's errors pass through unwrapped; `tessera.shared.adapters.outages` answers a
    connection-level one with 503."""

    def __init__(self, engine: AsyncEngine, scope: TenantScope) -> None:
        self._engine = engine
        self._scope = scope

    async def fetch(
        self, statement: Select[Any], values: Mapping[str, Any], *, reused: bool = False
    ) -> list[Record]:
        """The rows of `statement` with `values` bound to its parameters by name; a
        `reused` statement (the same object, request after request) is compiled once."""
        compiled = _compiled(statement, self._engine.dialect, keep=reused)
        arguments = compiled.arguments(values)
        # The scope as it is now: the whole transaction is inside this call, so no change of
        # the scope can be meant to reach it (nor an open unit of work's, left untouched).
        begin = _begin_in(self._scope.state)
        async with self._engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, Connection), "DriverReads needs asyncpg"
            try:
                await driver.execute(begin)
                rows: list[Record] = await driver.fetch(compiled.sql, *arguments)
                await driver.execute("COMMIT")
            except BaseException as error:
                await connection.invalidate()
                if outage(error) is not None:
                    suspect_pooled_connections(self._engine)
                raise
        return rows


def driver_reads_for(engine: AsyncEngine, scope: TenantScope) -> DriverReads | None:
    """`DriverReads` on `engine` in `scope`, or None where asyncpg is not its driver
    (SQLite): the caller then reads on a session."""
    return DriverReads(engine, scope) if engine.dialect.driver == "asyncpg" else None


def _begin_in(state: ScopeState) -> str:
    """BEGIN and the tenant scope as one simple-protocol message (which takes no parameters:
    the values are a UUID's canonical text and a constant, nothing a caller writes)."""
    tenant = "" if state.tenant_id is None else str(uuid.UUID(str(state.tenant_id)))
    all_tenants = "on" if state.all_tenants else "off"
    return (
        "BEGIN READ ONLY; "
        f"SELECT set_config('app.tenant_id', '{tenant}', true), "
        f"set_config('app.all_tenants', '{all_tenants}', true)"
    )


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: Sequence[str]
    """Each positional parameter's name, in order."""
    carried: Mapping[str, Any]
    """The values the statement carries itself (a search's pattern)."""
    processors: Mapping[str, Callable[[Any], Any]]
    """Each parameter's bind processing for the dialect, where its type has one."""

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        found = []
        for name in self.names:
            value = values[name] if name in values else self.carried[name]
            processor = self.processors.get(name)
            found.append(value if processor is None or value is None else processor(value))
        return found


def _compiled(statement: Select[Any], dialect: Dialect, *, keep: bool) -> _Compiled:
    found = _COMPILED.get(statement) if keep else None
    if found is not None:
        return found
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    processors = {}
    for name in names:
        kind = compiled.binds[name].type.dialect_impl(dialect)
        if (processor := kind.bind_processor(dialect)) is not None:
            processors[name] = processor
    found = _Compiled(str(compiled), names, dict(compiled.params), processors)
    if keep and len(_COMPILED) < _MAX_COMPILED:
        _COMPILED[statement] = found
    return found
