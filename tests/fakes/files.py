"""`FileRepository` for use-case tests: file rows in a `FakeUnitOfWork`, the whole Protocol
(mypy checks it at the bottom), run in tests/contract/test_file_repository.py beside the SQL
adapter. `hold_quota` records who held the quota (there is only one task to serialise)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime

from tessera.features.files.application.ports import FileFilter, FileRepository
from tessera.features.files.domain.file import FileStatus, StoredFile
from tessera.shared.domain.pagination import Page, PageRequest
from tests.fakes.unit_of_work import FakeUnitOfWork, Table

_SORTS: Mapping[str, Callable[[StoredFile], object]] = {
    "uploaded_at": lambda f: f.uploaded_at,
    "size_bytes": lambda f: f.size_bytes,
    "original_name": lambda f: f.original_name,
}


class FakeFileRepository:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, StoredFile] = Table(unit_of_work)
        self.quota_holders: list[uuid.UUID] = []

    async def add(self, file: StoredFile) -> None:
        self.rows[file.id] = file

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        return self.rows.get(file_id)

    async def mark_ready(self, file: StoredFile) -> bool:
        current = self.rows.get(file.id)
        if current is None or current.status is not FileStatus.PENDING:
            return False
        self.rows[file.id] = file
        return True

    async def remove(self, file_id: uuid.UUID) -> bool:
        return self.rows.pop(file_id, None) is not None

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID, where: FileFilter
    ) -> Page[StoredFile]:
        found = [f for f in self.rows.values() if f.tenant_id == tenant_id and _matches(f, where)]
        key = _SORTS[page.sort]
        found.sort(key=lambda f: (key(f), f.id.bytes), reverse=page.order == "desc")
        return Page(found[page.offset : page.offset + page.limit], len(found), page)

    async def used_bytes(self, tenant_id: uuid.UUID) -> int:
        return sum(f.size_bytes for f in self.rows.values() if f.tenant_id == tenant_id)

    async def hold_quota(self, tenant_id: uuid.UUID) -> None:
        self.quota_holders.append(tenant_id)

    async def of_user(self, user_id: uuid.UUID, *, limit: int) -> Sequence[StoredFile]:
        theirs = sorted(
            (f for f in self.rows.values() if f.user_id == user_id),
            key=lambda f: (f.created_at, f.id.bytes),
        )
        return theirs[:limit]

    async def keys_in(self, keys: Collection[str]) -> set[str]:
        wanted = set(keys)
        return {f.storage_key for f in self.rows.values() if f.storage_key in wanted}

    async def stale_pending(self, before: datetime, *, limit: int) -> Sequence[StoredFile]:
        stale = sorted(
            (
                f
                for f in self.rows.values()
                if f.status is FileStatus.PENDING and f.created_at < before
            ),
            key=lambda f: (f.created_at, f.id.bytes),
        )
        return stale[:limit]

    async def remove_pending(self, file_id: uuid.UUID) -> bool:
        current = self.rows.get(file_id)
        if current is None or current.status is not FileStatus.PENDING:
            return False
        del self.rows[file_id]
        return True

    async def ready_after(self, after: uuid.UUID | None, *, limit: int) -> Sequence[StoredFile]:
        ready = sorted(
            (
                f
                for f in self.rows.values()
                if f.status is FileStatus.READY and (after is None or f.id.bytes > after.bytes)
            ),
            key=lambda f: f.id.bytes,
        )
        return ready[:limit]


def _matches(file: StoredFile, where: FileFilter) -> bool:
    return (
        where.kind in (None, file.kind)
        and where.content_type in (None, file.content_type)
        and (where.uploaded_after is None or file.uploaded_at > where.uploaded_after)
        and (not where.search or where.search.lower() in file.original_name.lower())
    )


def _check(files: FakeFileRepository) -> FileRepository:
    return files
