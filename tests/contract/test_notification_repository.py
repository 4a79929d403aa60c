"""`NotificationRepository` and `NotificationReader` on every adapter (memory, SQLite,
PostgreSQL): what a reader sees, newest first, per-user read marks, the unread filter and
paging. PostgreSQL also runs as the app role: a tenant's transaction sees its rows and the
global ones, and cannot write or delete a global row (migration 0008's policies)."""

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

from tessera.features.identity.adapters.sql_users import SqlUserRepository
from tessera.features.identity.domain.user import User
from tessera.features.notifications.adapters.memory_notifications import (
    InMemoryNotificationRepository,
)
from tessera.features.notifications.adapters.sql_notifications import (
    DriverNotificationReader,
    SqlNotificationRepository,
    notification_reader,
)
from tessera.features.notifications.application.ports import (
    NotificationReader,
    NotificationRepository,
)
from tessera.features.notifications.domain.notification import (
    InboxItem,
    Kind,
    Notification,
    Recipient,
)
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.adapters.database import create_engine, scoped_session, session_factory
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import Page, PageRequest
from tests import services

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Both(NotificationRepository, NotificationReader):
    """What one adapter is: both ports (the contract speaks only of the ports)."""


Session = Callable[[], AbstractAsyncContextManager[Both]]


@dataclass(frozen=True)
class World:
    """Acme with Ann and Bob, Globex with Gus; `session()` opens a unit of work that
    commits when the block ends."""

    session: Session
    ann: Recipient
    bob: Recipient
    gus: Recipient


def a_user(tenant: uuid.UUID, name: str) -> User:
    return User.register(
        tenant_id=tenant,
        email=f"{name}@{tenant.hex[:8]}.test",
        password_hash="x",
        full_name=name,
        role=Role.USER,
        now=NOW,
    )


async def people(engine: AsyncEngine) -> tuple[Recipient, Recipient, Recipient]:
    acme, globex = uuid.uuid4(), uuid.uuid4()
    found = []
    async with AsyncSession(engine) as session:
        for tenant, name in ((acme, "Acme"), (globex, "Globex")):
            await SqlTenantRepository(session).create(tenant_id=tenant, name=name)
        for tenant, name in ((acme, "ann"), (acme, "bob"), (globex, "gus")):
            user = a_user(tenant, name)
            await SqlUserRepository(session).add(user)
            found.append(Recipient(user.id, tenant))
        await session.commit()
    return found[0], found[1], found[2]


@dataclass(frozen=True)
class SqlStore:
    """The repository on a unit of work's session; the inbox as the service reads it
    (`notification_reader`: on asyncpg itself on PostgreSQL, committed rows)."""

    repository: SqlNotificationRepository
    reader: NotificationReader

    async def add(self, notification: Notification) -> None:
        await self.repository.add(notification)

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        return await self.repository.get(notification_id)

    async def mark_read(self, notification_id: uuid.UUID, reader: Recipient, at: datetime) -> None:
        await self.repository.mark_read(notification_id, reader, at)

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        return await self.reader.inbox(reader, page, unread=unread)


def sql_sessions(engine: AsyncEngine) -> Session:
    every = TenantScope()
    every.across_tenants("contract tests")
    reader = notification_reader(engine, session_factory(engine), every)

    @asynccontextmanager
    async def session() -> AsyncIterator[Both]:
        async with AsyncSession(engine) as open_session:
            yield SqlStore(SqlNotificationRepository(open_session), reader)  # type: ignore[misc]
            await open_session.commit()

    return session


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "memory":
        memory = InMemoryNotificationRepository()

        @asynccontextmanager
        async def session() -> AsyncIterator[Both]:
            yield memory  # type: ignore[misc]

        acme, globex = uuid.uuid4(), uuid.uuid4()
        yield World(
            session,
            Recipient(uuid.uuid4(), acme),
            Recipient(uuid.uuid4(), acme),
            Recipient(uuid.uuid4(), globex),
        )
        return
    async with _migrated(request.param, tmp_path) as url:
        engine = create_engine(url)
        try:
            yield World(sql_sessions(engine), *await people(engine))
        finally:
            await engine.dispose()


@asynccontextmanager
async def _migrated(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
        await services.migrate(url)
        yield url
        return
    async with services.throwaway_database() as url:
        await services.migrate(url)
        yield url


def note(
    title: str,
    *,
    minutes: int = 0,
    user: Recipient | None = None,
    tenant: uuid.UUID | None = None,
) -> Notification:
    return Notification.create(
        id=uuid.uuid4(),
        tenant_id=user.tenant_id if user else tenant,
        user_id=user.user_id if user else None,
        kind=Kind.ANNOUNCEMENT,
        title=title,
        body=f"About {title}.",
        created_at=NOW + timedelta(minutes=minutes),
    )


def page(number: int = 1, limit: int = 50, order: str = "desc") -> PageRequest:
    return PageRequest(page=number, limit=limit, sort="created_at", order=order)  # type: ignore[arg-type]


async def titles(world: World, reader: Recipient, **options: object) -> list[str]:
    paging = page(**{k: v for k, v in options.items() if k != "unread"})  # type: ignore[arg-type]
    unread = options.get("unread")
    async with world.session() as store:
        found = await store.inbox(reader, paging, unread=unread)  # type: ignore[arg-type]
    return [item.notification.title for item in found.items]


async def publish(world: World, *notifications: Notification) -> None:
    async with world.session() as store:
        for notification in notifications:
            await store.add(notification)


async def test_a_reader_sees_its_own_its_tenants_and_global_ones_newest_first(
    world: World,
) -> None:
    acme = world.ann.tenant_id
    await publish(
        world,
        note("for everyone", minutes=1),
        note("for acme", minutes=2, tenant=acme),
        note("for ann", minutes=3, user=world.ann),
        note("for bob", minutes=4, user=world.bob),
        note("for globex", minutes=5, tenant=world.gus.tenant_id),
        note("for gus", minutes=6, user=world.gus),
    )
    assert await titles(world, world.ann) == ["for ann", "for acme", "for everyone"]
    assert await titles(world, world.ann, order="asc") == ["for everyone", "for acme", "for ann"]
    assert await titles(world, world.bob) == ["for bob", "for acme", "for everyone"]
    assert await titles(world, world.gus) == ["for gus", "for globex", "for everyone"]


async def test_a_notification_reads_back_by_id(world: World) -> None:
    mine = note("for ann", user=world.ann)
    await publish(world, mine)
    async with world.session() as store:
        assert await store.get(mine.id) == mine
        assert await store.get(uuid.uuid4()) is None


async def test_read_marks_belong_to_one_reader_and_keep_the_first_time(world: World) -> None:
    everyone = note("for everyone")
    await publish(world, everyone)
    async with world.session() as store:
        await store.mark_read(everyone.id, world.ann, NOW + timedelta(hours=1))
    async with world.session() as store:
        await store.mark_read(everyone.id, world.ann, NOW + timedelta(hours=2))
    async with world.session() as store:
        ann = await store.inbox(world.ann, page())
        bob = await store.inbox(world.bob, page())
    assert [item.read_at for item in ann.items] == [NOW + timedelta(hours=1)]
    assert [item.read_at for item in bob.items] == [None]


async def test_the_unread_filter_and_paging_count_what_the_reader_sees(world: World) -> None:
    first, second, third = (note(f"n{i}", minutes=i, user=world.ann) for i in range(3))
    await publish(world, first, second, third, note("not ann's", user=world.bob))
    async with world.session() as store:
        await store.mark_read(second.id, world.ann, NOW)
    assert await titles(world, world.ann, unread=True) == ["n2", "n0"]
    assert await titles(world, world.ann, unread=False) == ["n1"]
    async with world.session() as store:
        second_page = await store.inbox(world.ann, page(number=2, limit=2))
        unread_page = await store.inbox(world.ann, page(limit=1), unread=True)
    assert [item.notification.title for item in second_page.items] == ["n0"]
    assert (second_page.total_items, second_page.total_pages) == (3, 2)
    assert unread_page.total_items == 2


# PostgreSQL as the app role: the second wall.


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[str, World]]:
    """A migrated database set up by the owner; the URL for the app role."""
    async with services.throwaway_database() as url:
        await services.migrate(url)
        engine = create_engine(url)
        try:
            yield (
                await services.as_app_role(url),
                World(sql_sessions(engine), *await people(engine)),
            )
        finally:
            await engine.dispose()


@asynccontextmanager
async def app_role(url: str, scope: TenantScope) -> AsyncIterator[AsyncSession]:
    """A session as `tessera_app` in `scope`, committed when the block ends."""
    engine = create_engine(url)
    try:
        async with scoped_session(session_factory(engine), scope) as session:
            yield session
            await session.commit()
    finally:
        await engine.dispose()


def in_tenant(tenant: uuid.UUID) -> TenantScope:
    scope = TenantScope()
    scope.enter(tenant)
    return scope


@pytest.mark.postgres
async def test_under_rls_a_tenant_sees_its_own_rows_and_the_global_ones(
    guarded: tuple[str, World],
) -> None:
    url, world = guarded
    globex_only, everyone = note("globex", minutes=1, tenant=world.gus.tenant_id), note("everyone")
    await publish(world, globex_only, everyone, note("ann's", user=world.ann))
    async with app_role(url, in_tenant(world.ann.tenant_id)) as session:
        store = SqlNotificationRepository(session)
        assert await store.get(globex_only.id) is None
        assert await store.get(everyone.id) == everyone
        await store.mark_read(everyone.id, world.ann, NOW)
        # asked for Gus's inbox, Acme's transaction still shows nothing of Globex
        found = await store.inbox(world.gus, page())
    engine = create_engine(url)
    try:  # nor does the service's own reader, in Acme's scope
        driver = notification_reader(
            engine, session_factory(engine), in_tenant(world.ann.tenant_id)
        )
        assert isinstance(driver, DriverNotificationReader)
        read = await driver.inbox(world.gus, page())
        ann = await driver.inbox(world.ann, page())
    finally:
        await engine.dispose()
    assert [item.notification.title for item in found.items] == ["everyone"]
    assert [item.notification.title for item in read.items] == ["everyone"]
    assert {item.notification.title: item.read_at for item in ann.items} == {
        "ann's": None,
        "everyone": NOW,
    }, "Ann's inbox with her own read mark"
    assert await titles(world, world.gus) == ["globex", "everyone"]


@pytest.mark.postgres
async def test_under_rls_only_the_all_tenants_path_writes_global_rows(
    guarded: tuple[str, World],
) -> None:
    url, world = guarded
    await publish(world, note("everyone"))
    with pytest.raises(DBAPIError) as refused:
        async with app_role(url, in_tenant(world.ann.tenant_id)) as session:
            await SqlNotificationRepository(session).add(note("sneaky broadcast"))
    cause = refused.value.orig.__cause__  # type: ignore[union-attr]
    assert isinstance(cause, asyncpg.InsufficientPrivilegeError)
    async with app_role(url, in_tenant(world.ann.tenant_id)) as session:
        deleted = await session.execute(text("DELETE FROM notifications"))
        assert deleted.rowcount == 0  # type: ignore[attr-defined]
    every = TenantScope()
    every.across_tenants("test: an admin notifies everyone")
    async with app_role(url, every) as session:
        await SqlNotificationRepository(session).add(note("announcement", minutes=1))
    assert await titles(world, world.gus) == ["announcement", "everyone"]
