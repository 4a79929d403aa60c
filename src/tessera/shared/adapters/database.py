"""SQLAlchemy base, engine and unit of work, for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import asyncpg
import msgspec
from advanced_alchemy.base import AdvancedDeclarativeBase, CommonTableAttributes, create_registry
from advanced_alchemy.mixins import AuditColumns
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncAttrs,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from tessera.shared.application.ports import OutboxListener
from tessera.shared.application.tenant_scope import TenantScope

COMMITTED_EVENTS = "tessera.outbox.recorded"  # key in `AsyncSession.info`
TENANT_SCOPE = "tessera.tenant_scope"  # key in `AsyncSession.info`

orm_registry = create_registry()


class Base(CommonTableAttributes, AdvancedDeclarativeBase, AsyncAttrs):
    """Declarative base of every table; its metadata is what Alembic compares against."""

    __abstract__ = True
    registry = orm_registry
    metadata = orm_registry.metadata


class UUIDPrimaryKey:
    """Ids are made by the application (`uuid4`), never by the database."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-100)


class Timestamped(UUIDPrimaryKey, AuditColumns):
    """UUID primary key plus `created_at` / `updated_at` (timezone-aware, UTC)."""


def _json_serializer(value: Any) -> str:
    return msgspec.json.encode(value).decode()


PING_AFTER_IDLE_SECONDS = 10.0
"""A pooled connection unused for this long is pinged before its next unit of work."""


def create_engine(
    url: str,
    *,
    pool_size: int = 20,
    max_overflow: int = 0,
    pool_timeout: float = 30.0,
    transaction_pooling: bool = False,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> AsyncEngine:
    """An engine for `url`; with `transaction_pooling` (PgBouncer and the like in
    transaction mode) no prepared statement outlives its transaction, since the next one
    may run on another server connection. See `_ping_idle_connections` for
    `ping_after_idle`."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    connect_args: dict[str, Any] = {"timeout": 5}
    if transaction_pooling:
        connect_args |= {
            "statement_cache_size": 0,  # asyncpg's own cache
            "prepared_statement_cache_size": 0,  # SQLAlchemy's dialect cache
            "prepared_statement_name_func": _unique_statement_name,
        }
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
        json_serializer=_json_serializer,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_operational_error)
    event.listen(engine.sync_engine, "handle_error", _invalidate_broken_connections)
    _ping_idle_connections(engine.sync_engine, ping_after_idle)
    return engine


_IDLE_SINCE = "tessera.idle_since"  # key in a pooled connection's `info`


def _ping_idle_connections(engine: Engine, after: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, only for a connection that sat in the pool for `after`
    seconds or more: what a server, pooler or firewall may have closed meanwhile.

    On asyncpg a ping is three round trips (SQLAlchemy wraps its `;` in BEGIN and ROLLBACK
    for PgBouncer), as many as a whole read of a page, on every unit of work; a connection
    in steady use skips it. If the server ended one of those (a restart), the unit of work
    that finds out fails as the database being down (503) and SQLAlchemy invalidates every
    connection of the pool, so the next units of work connect afresh."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:
            return
        suspect = idle_since <= _SUSPECT_SINCE.get(engine, -math.inf)
        if not suspect and time.monotonic() - idle_since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection did not answer a ping") from error


_SUSPECT_SINCE: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def suspect_pooled_connections(engine: AsyncEngine) -> None:
    """Every connection now in `engine`'s pool is pinged before its next use: for code that
    met a lost connection on the driver itself (`DriverReads`), where SQLAlchemy would
    have invalidated the whole pool, since a server restart ends every connection."""
    _SUSPECT_SINCE[engine.sync_engine] = time.monotonic()


def _invalidate_broken_connections(context: ExceptionContext) -> None:
    """SQLAlchemy does not count `_left_mid_operation` as a disconnect, so the pool would
    hand the connection out again, and the error would not read as the database's."""
    if _left_mid_operation(context.original_exception):
        context.is_disconnect = True


def _left_mid_operation(error: BaseException) -> bool:
    """Whether `error` (a DBAPI error of SQLAlchemy's asyncpg dialect, which keeps asyncpg's
    own as its `__cause__`) says the connection believes an operation still runs: what a
    server session killed mid-operation leaves behind, even on a connection being set up
    (SQLAlchemy's rollback after its first queries). Every later use fails the same way."""
    driver_error = error.__cause__ or error
    return isinstance(driver_error, asyncpg.InternalClientError) and "in progress" in str(
        driver_error
    )


def _unique_statement_name() -> str:
    """Behind a transaction pooler, names asyncpg numbers per connection would collide on
    a server connection another client prepared on."""
    return f"__asyncpg_{uuid.uuid4().hex}__"


def _connect_or_operational_error(
    dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """asyncpg lets a refused or timed-out connect escape as a bare `OSError`, which names
    no database; reported as SQLAlchemy's `OperationalError`, it says where it came from."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:  # includes TimeoutError and ConnectionRefusedError
        raise OperationalError(None, None, error) from error


def _sqlite_engine(url: str) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, json_serializer=_json_serializer)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


class SqlAlchemyUnitOfWork:
    """`UnitOfWork` over the request's `AsyncSession`; repositories share the same session.

    After a commit that wrote outbox events, the listener is told their ids so they reach
    the queue at once; a rollback forgets them.
    """

    def __init__(self, session: AsyncSession, listener: OutboxListener | None = None) -> None:
        self._session = session
        self._listener = listener

    async def commit(self) -> None:
        await self._session.commit()
        recorded = self._session.info.pop(COMMITTED_EVENTS, None)
        if recorded and self._listener is not None:
            self._listener.committed(recorded)

    async def rollback(self) -> None:
        await self._session.rollback()
        self._session.info.pop(COMMITTED_EVENTS, None)


class ScopedSession(Session):
    """A session that starts every transaction in its `TenantScope` (see `scoped_session`)."""


_APPLY_SCOPE = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true), "
    "set_config('app.all_tenants', :all_tenants, true)"
)


@event.listens_for(ScopedSession, "after_begin")
def _apply_tenant_scope(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    """On PostgreSQL the row-level security policies read these two settings. They are
    transaction-local (`set_config(..., true)`), so a pooled connection never carries one
    tenant's scope into the next transaction; an empty tenant matches no row."""
    scope = session.info.get(TENANT_SCOPE)
    if scope is None:
        return
    state = scope.transaction_began()
    if connection.dialect.name == "postgresql":
        tenant = "" if state.tenant_id is None else str(state.tenant_id)
        all_tenants = "on" if state.all_tenants else "off"
        connection.execute(_APPLY_SCOPE, {"tenant_id": tenant, "all_tenants": all_tenants})


@event.listens_for(ScopedSession, "after_transaction_end")
def _release_tenant_scope(session: Session, transaction: SessionTransaction) -> None:
    scope = session.info.get(TENANT_SCOPE)
    if scope is not None and transaction.parent is None:
        scope.transaction_ended()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=ScopedSession)


@asynccontextmanager
async def scoped_session(
    factory: async_sessionmaker[AsyncSession], scope: TenantScope
) -> AsyncIterator[AsyncSession]:
    """A new session for one unit of work, whose every transaction begins in `scope`; closed
    when the block ends (a transaction still open is rolled back, its connection goes back
    to the engine's pool)."""
    async with factory(info={TENANT_SCOPE: scope}) as session:
        yield session
