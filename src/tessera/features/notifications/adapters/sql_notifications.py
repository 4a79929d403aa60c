"""Notifications and read marks on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from datetime import datetime

from asyncpg import Record
from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import with_expression

from tessera.features.notifications.adapters.models import NotificationModel, NotificationReadModel
from tessera.features.notifications.application.ports import SORTABLE, NotificationReader
from tessera.features.notifications.domain.notification import (
    InboxItem,
    Kind,
    Notification,
    Recipient,
)
from tessera.shared.adapters.database import scoped_session
from tessera.shared.adapters.driver_reads import DriverReads, driver_reads_for
from tessera.shared.adapters.paging import Rows, page_of_records
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.pagination import Page, PageRequest

N, R = NotificationModel, NotificationReadModel


class _Inbox(Rows[NotificationModel]):
    """Notifications with the reader's own read mark (`reader_id`) as `read_at`."""

    model_type = NotificationModel
    base = (
        select(N)
        .outerjoin(R, and_(R.notification_id == N.id, R.user_id == bindparam("reader_id")))
        .options(with_expression(N.read_at, R.read_at))
        .execution_options(populate_existing=True)  # the reader's marks, not another's
    )


def _to_entity(model: NotificationModel) -> Notification:
    return Notification(
        id=model.id,
        tenant_id=model.tenant_id,
        user_id=model.user_id,
        kind=Kind(model.kind),
        title=model.title,
        body=model.body,
        created_at=model.created_at,
    )


def _inbox_conditions(names: frozenset[str]) -> list[ColumnElement[bool]]:
    """Addressed to the reader (`reader_id` of `reader_tenant`): its own, its tenant's (no
    user) and the global ones (neither); then read or unread, if `read` or `unread` is
    named (see `Rows.page_of`)."""
    reader: BindParameter[uuid.UUID] = bindparam("reader_id")
    tenant: BindParameter[uuid.UUID] = bindparam("reader_tenant")
    found = [
        or_(
            N.user_id == reader,
            and_(N.user_id.is_(None), or_(N.tenant_id == tenant, N.tenant_id.is_(None))),
        )
    ]
    if "unread" in names:
        found.append(R.notification_id.is_(None))
    if "read" in names:
        found.append(R.notification_id.is_not(None))
    return found


def notification_reader(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession], scope: TenantScope
) -> NotificationReader:
    """`NotificationReader` in `scope`: asyncpg's own on PostgreSQL (decision record 0015),
    a session's elsewhere; committed rows, outside the request's unit of work."""
    reads = driver_reads_for(engine, scope)
    return (
        SqlNotificationReader(factory, scope) if reads is None else DriverNotificationReader(reads)
    )


class SqlNotificationReader:
    """`NotificationReader` on a session of its own for each page, in the tenant scope."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], scope: TenantScope) -> None:
        self._factory = factory
        self._scope = scope

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        async with scoped_session(self._factory, self._scope) as session:
            return await SqlNotificationRepository(session).inbox(reader, page, unread=unread)


class DriverNotificationReader:
    """`NotificationReader` on PostgreSQL through `DriverReads`: the inbox's statement, run
    by asyncpg."""

    def __init__(self, reads: DriverReads) -> None:
        self._reads = reads

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        query = _Inbox.page_query(
            page, _inbox_conditions, _inbox_values(reader, unread), sortable=SORTABLE
        )
        records, total = await page_of_records(self._reads, query)
        items = [InboxItem(_from_record(row), row["read_at"]) for row in records]
        return Page(items=items, total_items=total, request=page)


def _from_record(row: Record) -> Notification:
    return Notification(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        kind=Kind(row["kind"]),
        title=row["title"],
        body=row["body"],
        created_at=row["created_at"],
    )


def _inbox_values(reader: Recipient, unread: bool | None) -> dict[str, object]:
    values: dict[str, object] = {"reader_id": reader.user_id, "reader_tenant": reader.tenant_id}
    if unread is not None:
        values["unread" if unread else "read"] = True  # a name that picks a condition
    return values


class SqlNotificationRepository:
    """`NotificationRepository` and `NotificationReader` on the request's session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, notification: Notification) -> None:
        n = notification
        self._session.add(
            N(
                id=n.id,
                tenant_id=n.tenant_id,
                user_id=n.user_id,
                kind=n.kind.value,
                title=n.title,
                body=n.body,
                created_at=n.created_at,
                updated_at=n.created_at,
            )
        )
        await self._session.flush()

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        model = await self._session.scalar(select(N).where(N.id == notification_id))
        return None if model is None else _to_entity(model)

    async def mark_read(self, notification_id: uuid.UUID, reader: Recipient, at: datetime) -> None:
        """`INSERT … ON CONFLICT DO NOTHING`: a second mark, even a concurrent one, keeps the
        first time and leaves the transaction usable."""
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(R)
            .values(
                notification_id=notification_id,
                user_id=reader.user_id,
                tenant_id=reader.tenant_id,
                read_at=at,
            )
            .on_conflict_do_nothing(index_elements=[R.notification_id, R.user_id])
        )
        await self._session.execute(statement)

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        models, total = await _Inbox(self._session).page_of(
            page, _inbox_conditions, _inbox_values(reader, unread), sortable=SORTABLE
        )
        items = [InboxItem(_to_entity(model), model.read_at) for model in models]
        return Page(items=items, total_items=total, request=page)
