"""File metadata on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from advanced_alchemy.filters import SearchFilter
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import bindparam, column, delete, func, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.files.adapters.models import FileModel
from tessera.features.files.application.ports import FileFilter
from tessera.features.files.domain.file import FileKind, FileStatus, StoredFile
from tessera.shared.adapters.paging import Filter, Rows
from tessera.shared.domain.pagination import Page, PageRequest

M = FileModel
_SORTABLE = ("uploaded_at", "size_bytes", "original_name")


class _Files(Rows[FileModel]):
    model_type = FileModel


def _to_entity(model: FileModel) -> StoredFile:
    return StoredFile(
        id=model.id,
        tenant_id=model.tenant_id,
        user_id=model.user_id,
        kind=FileKind(model.kind),
        content_type=model.content_type,
        size_bytes=model.size_bytes,
        original_name=model.original_name,
        sha256=model.sha256,
        storage_key=model.storage_key,
        status=FileStatus(model.status),
        uploaded_at=model.uploaded_at,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def _values(tenant_id: uuid.UUID, where: FileFilter) -> dict[str, object]:
    given = {
        "tenant_id": tenant_id,
        "kind": None if where.kind is None else where.kind.value,
        "content_type": where.content_type,
        "uploaded_after": where.uploaded_after,
    }
    return {name: value for name, value in given.items() if value is not None}


def _conditions(names: frozenset[str]) -> list[Filter]:
    found: list[Filter] = [M.tenant_id == bindparam("tenant_id")]
    if "kind" in names:
        found.append(M.kind == bindparam("kind"))
    if "content_type" in names:
        found.append(M.content_type == bindparam("content_type"))
    if "uploaded_after" in names:
        found.append(M.uploaded_at > bindparam("uploaded_after"))
    return found


def _search(text: str | None) -> tuple[Filter, ...]:
    if not text:
        return ()
    return (SearchFilter("original_name", text, ignore_case=True, escape_wildcards=True),)


# The tenant row, seen from here only to lock it (tenancy owns the table).
_TENANTS = table(
    "tenants", column("id", GUID(length=16)), column("updated_at", DateTimeUTC(timezone=True))
)


class SqlFileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, file: StoredFile) -> None:
        self._session.add(
            M(
                id=file.id,
                tenant_id=file.tenant_id,
                user_id=file.user_id,
                kind=file.kind.value,
                content_type=file.content_type,
                size_bytes=file.size_bytes,
                original_name=file.original_name,
                sha256=file.sha256,
                storage_key=file.storage_key,
                status=file.status.value,
                uploaded_at=file.uploaded_at,
                created_at=file.created_at,
                updated_at=file.updated_at,
            )
        )
        await self._session.flush()

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        model = await self._session.scalar(select(M).where(M.id == file_id))
        return None if model is None else _to_entity(model)

    async def mark_ready(self, file: StoredFile) -> bool:
        result = await self._session.execute(
            update(M)
            .where(M.id == file.id, M.status == FileStatus.PENDING.value)
            .values(
                status=file.status.value,
                storage_key=file.storage_key,
                size_bytes=file.size_bytes,
                sha256=file.sha256,
                uploaded_at=file.uploaded_at,
                updated_at=file.updated_at,
            ),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def remove(self, file_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(M).where(M.id == file_id), execution_options={"synchronize_session": False}
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID, where: FileFilter
    ) -> Page[StoredFile]:
        values = _values(tenant_id, where)
        search = _search(where.search)
        rows, total = await _Files(self._session).page_of(
            page, _conditions, values, *search, sortable=_SORTABLE
        )
        return Page(items=[_to_entity(row) for row in rows], total_items=total, request=page)

    async def hold_quota(self, tenant_id: uuid.UUID) -> None:
        """A no-op write to the tenant's row: a row lock on PostgreSQL (the policy lets a
        tenant's transaction update its own row), the database's write lock on SQLite."""
        await self._session.execute(
            update(_TENANTS)
            .where(_TENANTS.c.id == tenant_id)
            .values(updated_at=_TENANTS.c.updated_at),
            execution_options={"synchronize_session": False},
        )

    async def used_bytes(self, tenant_id: uuid.UUID) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(M.size_bytes), 0)).where(M.tenant_id == tenant_id)
        )
        return int(total or 0)

    async def of_user(self, user_id: uuid.UUID, *, limit: int) -> Sequence[StoredFile]:
        rows = await self._session.scalars(
            select(M).where(M.user_id == user_id).order_by(M.created_at, M.id).limit(limit)
        )
        return [_to_entity(row) for row in rows]

    async def keys_in(self, keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        found = await self._session.scalars(
            select(M.storage_key).where(M.storage_key.in_(list(keys)))
        )
        return set(found)

    async def stale_pending(self, before: datetime, *, limit: int) -> Sequence[StoredFile]:
        rows = await self._session.scalars(
            select(M)
            .where(M.status == FileStatus.PENDING.value, M.created_at < before)
            .order_by(M.created_at, M.id)
            .limit(limit)
        )
        return [_to_entity(row) for row in rows]

    async def remove_pending(self, file_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(M).where(M.id == file_id, M.status == FileStatus.PENDING.value),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def ready_after(self, after: uuid.UUID | None, *, limit: int) -> Sequence[StoredFile]:
        query = select(M).where(M.status == FileStatus.READY.value)
        if after is not None:
            query = query.where(M.id > after)
        rows = await self._session.scalars(query.order_by(M.id).limit(limit))
        return [_to_entity(row) for row in rows]
