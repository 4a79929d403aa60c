"""`AuditTrail` and `AuditLog` on every adapter (memory, SQLite, PostgreSQL): what is
recorded, filters, newest first, paging, pruning. The SQL adapters write with the unit of
work: a rollback leaves no row. PostgreSQL also runs as the app role: it may read and
insert but never update or delete a row (migration 0010), sees only its tenant's rows,
and prunes only through the owner's function, which keeps the last 30 days."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.audit.adapters.memory_audit import InMemoryAuditLog
from tessera.features.audit.adapters.sql_audit import SqlAuditLog, SqlAuditTrail
from tessera.features.audit.application.ports import AuditLog, AuditTrail, RequestOrigin
from tessera.features.audit.domain.event import AuditAction, AuditFilter, SecretInDetails
from tessera.shared.adapters.database import create_engine, scoped_session, session_factory
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.pagination import PageRequest
from tests import services

NOW = datetime.now(UTC).replace(microsecond=0)
ORIGIN = RequestOrigin(ip_address="203.0.113.7", user_agent="Agent/1", request_id="req-1")
PAGE = PageRequest(sort="occurred_at", limit=100)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


class Both(AuditTrail, AuditLog):
    """What the contract speaks of: both ports, on one unit of work."""


Work = Callable[[Clock], AbstractAsyncContextManager[Both]]


@dataclass(frozen=True)
class Store:
    """`work(clock)` opens a unit of work whose recorder stamps rows with `clock`; it
    commits when the block ends."""

    work: Work


class _Joined:
    def __init__(self, trail: AuditTrail, log: AuditLog) -> None:
        self.record, self.list, self.prune = trail.record, log.list, log.prune


def sql_store(engine: AsyncEngine) -> Store:
    @asynccontextmanager
    async def work(clock: Clock) -> AsyncIterator[Both]:
        async with AsyncSession(engine) as session:
            joined = _Joined(SqlAuditTrail(session, clock, ORIGIN), SqlAuditLog(session))
            yield joined  # type: ignore[misc]
            await session.commit()

    return Store(work)


@asynccontextmanager
async def migrated(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
        await services.migrate(url)
        yield url
        return
    async with services.throwaway_database() as url:
        await services.migrate(url)
        yield url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        shared = Clock()
        memory = InMemoryAuditLog(shared, ORIGIN)

        @asynccontextmanager
        async def work(clock: Clock) -> AsyncIterator[Both]:
            shared.moment = clock.moment
            yield memory  # type: ignore[misc]

        yield Store(work)
        return
    async with migrated(request.param, tmp_path) as url:
        engine = create_engine(url)
        try:
            yield sql_store(engine)
        finally:
            await engine.dispose()


ACME, GLOBEX = uuid.uuid4(), uuid.uuid4()
ANN, GUS = uuid.uuid4(), uuid.uuid4()


async def test_a_recorded_row_has_who_what_where_and_when(store: Store) -> None:
    target = uuid.uuid4()
    async with store.work(Clock()) as audit:
        audit.record(
            AuditAction.USER_UPDATED,
            tenant_id=ACME,
            actor_id=ANN,
            target_type="user",
            target_id=target,
            details={"role": "tenant_admin", "is_active": False},
        )
    async with store.work(Clock()) as audit:
        page = await audit.list(AuditFilter(), PAGE)
    [row] = page.items
    assert (row.tenant_id, row.actor_id, row.action, row.target_type, row.target_id) == (
        ACME,
        ANN,
        AuditAction.USER_UPDATED,
        "user",
        target,
    )
    assert (row.ip_address, row.user_agent, row.request_id) == (
        "203.0.113.7",
        "Agent/1",
        "req-1",
    )
    assert row.occurred_at == NOW
    assert dict(row.details) == {"role": "tenant_admin", "is_active": False}


async def test_filters_combine_newest_first_and_pages(store: Store) -> None:
    targets = [uuid.uuid4() for _ in range(5)]
    for minutes, target in enumerate(targets):
        async with store.work(Clock(NOW + timedelta(minutes=minutes))) as audit:
            audit.record(
                AuditAction.LOGIN_SUCCEEDED if minutes % 2 else AuditAction.LOGIN_FAILED,
                tenant_id=ACME if minutes < 4 else GLOBEX,
                actor_id=ANN if minutes < 4 else GUS,
                target_type="user",
                target_id=target,
            )
    async with store.work(Clock()) as audit:
        every = await audit.list(AuditFilter(), PAGE)
        assert [row.target_id for row in every.items] == targets[::-1]
        oldest = await audit.list(AuditFilter(), PageRequest(sort="occurred_at", order="asc"))
        assert [row.target_id for row in oldest.items] == targets
        acme = await audit.list(AuditFilter(tenant_id=ACME), PAGE)
        assert [row.target_id for row in acme.items] == targets[3::-1]
        failed = AuditFilter(tenant_id=ACME, action=AuditAction.LOGIN_FAILED)
        assert [row.target_id for row in (await audit.list(failed, PAGE)).items] == [
            targets[2],
            targets[0],
        ]
        by_gus = await audit.list(AuditFilter(actor_id=GUS), PAGE)
        assert [row.target_id for row in by_gus.items] == [targets[4]]
        one = await audit.list(AuditFilter(target_id=targets[1]), PAGE)
        assert [row.target_id for row in one.items] == [targets[1]]
        window = AuditFilter(
            since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=3)
        )  # since inclusive, until exclusive
        assert [row.target_id for row in (await audit.list(window, PAGE)).items] == [
            targets[2],
            targets[1],
        ]
        second = await audit.list(AuditFilter(), PageRequest(sort="occurred_at", page=2, limit=2))
        assert [row.target_id for row in second.items] == [targets[2], targets[1]]
        assert (second.total_items, second.total_pages) == (5, 3)


async def test_prune_removes_only_rows_older_than_the_cutoff(store: Store) -> None:
    ages = {"old": 400, "older": 500, "recent": 40}
    for name, days in ages.items():
        async with store.work(Clock(NOW - timedelta(days=days))) as audit:
            audit.record(
                AuditAction.LOGIN_SUCCEEDED,
                tenant_id=ACME,
                actor_id=ANN,
                target_type="user",
                target_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
            )
    async with store.work(Clock()) as audit:
        assert await audit.prune(NOW - timedelta(days=365)) == 2
    async with store.work(Clock()) as audit:
        left = await audit.list(AuditFilter(), PAGE)
    assert [row.target_id for row in left.items] == [uuid.uuid5(uuid.NAMESPACE_DNS, "recent")]


@pytest.mark.parametrize(
    "details",
    [
        {"password": "hunter2"},
        {"refresh_token": "x"},
        {"webhook_secret": "whsec_x"},
        {"recovery_code": "x"},
        {"api_key": "x"},
        {"nested": {"a": 1}},
        {"long": "x" * 201},
        {f"k{n}": n for n in range(9)},
    ],
)
async def test_details_that_could_hold_a_secret_are_refused(
    store: Store, details: dict[str, object]
) -> None:
    async with store.work(Clock()) as audit:
        with pytest.raises(SecretInDetails):
            audit.record(
                AuditAction.USER_UPDATED,
                tenant_id=ACME,
                actor_id=ANN,
                target_type="user",
                target_id=ANN,
                details=details,  # type: ignore[arg-type]
            )
        assert (await audit.list(AuditFilter(), PAGE)).items == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_rolled_back_unit_of_work_leaves_no_row(kind: str, tmp_path: Path) -> None:
    async with migrated(kind, tmp_path) as url:
        engine = create_engine(url)
        try:
            async with AsyncSession(engine) as session:
                SqlAuditTrail(session, Clock(), ORIGIN).record(
                    AuditAction.USER_REMOVED,
                    tenant_id=ACME,
                    actor_id=ANN,
                    target_type="user",
                    target_id=GUS,
                )
                await session.rollback()
            async with AsyncSession(engine) as session:
                page = await SqlAuditLog(session).list(AuditFilter(), PAGE)
        finally:
            await engine.dispose()
    assert page.items == []


# PostgreSQL as the application role


@asynccontextmanager
async def app_role() -> AsyncIterator[tuple[AsyncEngine, uuid.UUID]]:
    """A migrated database with one row of Acme's 400 days old and one of Globex's, and
    an engine for the app role."""
    async with services.throwaway_database() as url:
        await services.migrate(url)
        owner = create_engine(url)
        try:
            async with AsyncSession(owner) as session:
                for tenant, days in ((ACME, 400), (GLOBEX, 1)):
                    SqlAuditTrail(session, Clock(NOW - timedelta(days=days)), ORIGIN).record(
                        AuditAction.LOGIN_SUCCEEDED,
                        tenant_id=tenant,
                        actor_id=None,
                        target_type="user",
                        target_id=uuid.uuid4(),
                    )
                await session.commit()
        finally:
            await owner.dispose()
        engine = create_engine(await services.as_app_role(url))
        try:
            yield engine, ACME
        finally:
            await engine.dispose()


def scoped(
    engine: AsyncEngine, *, tenant: uuid.UUID | None
) -> AbstractAsyncContextManager[AsyncSession]:
    scope = TenantScope()
    if tenant is None:
        scope.across_tenants("contract test")
    else:
        scope.enter(tenant)
    return scoped_session(session_factory(engine), scope)


def refused(error: DBAPIError) -> bool:
    """PostgreSQL said "permission denied" (42501), not something else going wrong."""
    cause = None if error.orig is None else error.orig.__cause__
    return isinstance(cause, asyncpg.InsufficientPrivilegeError)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'user.login.failed'",
        "UPDATE audit_events SET details = '{}'::jsonb WHERE tenant_id = :tenant",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE tenant_id = :tenant",
        "TRUNCATE audit_events",
    ],
)
async def test_the_app_role_cannot_change_or_delete_a_row(statement: str) -> None:
    async with app_role() as (engine, tenant):
        async with scoped(engine, tenant=None) as session:
            with pytest.raises(DBAPIError) as caught:
                await session.execute(text(statement), {"tenant": tenant})
            assert refused(caught.value), caught.value
        async with scoped(engine, tenant=None) as session:
            count = await session.scalar(text("SELECT count(*) FROM audit_events"))
        assert count == 2


@pytest.mark.postgres
async def test_the_app_role_inserts_and_reads_its_tenants_rows_only() -> None:
    async with app_role() as (engine, tenant):
        async with scoped(engine, tenant=tenant) as session:
            SqlAuditTrail(session, Clock(), ORIGIN).record(
                AuditAction.LOGGED_OUT,
                tenant_id=tenant,
                actor_id=ANN,
                target_type="session",
                target_id=uuid.uuid4(),
            )
            await session.commit()
        async with scoped(engine, tenant=tenant) as session:
            every = await SqlAuditLog(session).list(AuditFilter(), PAGE)  # no tenant filter
        assert {row.tenant_id for row in every.items} == {tenant}
        assert len(every.items) == 2
        async with scoped(engine, tenant=tenant) as session:
            SqlAuditTrail(session, Clock(), ORIGIN).record(
                AuditAction.LOGGED_OUT,
                tenant_id=GLOBEX,
                actor_id=ANN,
                target_type="session",
                target_id=uuid.uuid4(),
            )
            with pytest.raises(DBAPIError):  # the policy's WITH CHECK
                await session.commit()


@pytest.mark.postgres
async def test_the_app_role_prunes_through_the_function_which_keeps_the_last_30_days() -> None:
    async with app_role() as (engine, _tenant):
        async with scoped(engine, tenant=None) as session:
            with pytest.raises(DBAPIError) as caught:
                await SqlAuditLog(session).prune(NOW - timedelta(days=29))
            assert refused(caught.value), caught.value
        async with scoped(engine, tenant=None) as session:
            assert await SqlAuditLog(session).prune(NOW - timedelta(days=365)) == 1
            await session.commit()
        async with scoped(engine, tenant=None) as session:
            left = await SqlAuditLog(session).list(AuditFilter(), PAGE)
        assert [row.tenant_id for row in left.items] == [GLOBEX]
