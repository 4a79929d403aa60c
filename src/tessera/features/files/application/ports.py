"""The files feature's ports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tessera.features.files.domain.file import FileKind, StoredFile
from tessera.shared.domain.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class FileFilter:
    """`GET /files` filters; `search` matches the name, case-insensitively, literally (`%`
    and `_` are not wildcards)."""

    kind: FileKind | None = None
    content_type: str | None = None
    uploaded_after: datetime | None = None
    search: str | None = None


class FileRepository(Protocol):
    """File metadata rows, in the request's unit of work."""

    async def add(self, file: StoredFile) -> None: ...

    async def get(self, file_id: uuid.UUID) -> StoredFile | None: ...

    async def mark_ready(self, file: StoredFile) -> bool:
        """Write back status, storage key, size, SHA-256 and times (completing a presigned
        upload), only while the row is still `pending`; False otherwise (completed by
        another request meanwhile, or gone)."""
        ...

    async def remove(self, file_id: uuid.UUID) -> bool:
        """Delete the row; False when it was already gone."""
        ...

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID, where: FileFilter
    ) -> Page[StoredFile]:
        """One tenant's files, sorted by `page.sort` (`uploaded_at`, `size_bytes`,
        `original_name`), ties broken by id."""
        ...

    async def used_bytes(self, tenant_id: uuid.UUID) -> int:
        """The sum of `size_bytes` of the tenant's files, pending ones included."""
        ...

    async def hold_quota(self, tenant_id: uuid.UUID) -> None:
        """Serialise the tenant's quota decisions until this transaction ends: a second
        upload of the tenant waits here until the first has committed its row, so two
        uploads cannot both fit in the room left for one."""
        ...

    async def of_user(self, user_id: uuid.UUID, *, limit: int) -> Sequence[StoredFile]:
        """Up to `limit` files uploaded by `user_id` (any status), oldest first."""
        ...

    async def keys_in(self, keys: Collection[str]) -> set[str]:
        """Those of `keys` some row (any tenant, any status) holds as its `storage_key`."""
        ...

    async def stale_pending(self, before: datetime, *, limit: int) -> Sequence[StoredFile]:
        """Up to `limit` `pending` rows created before `before`, oldest first."""
        ...

    async def remove_pending(self, file_id: uuid.UUID) -> bool:
        """Delete the row only while it is still `pending`; False otherwise (completed
        meanwhile, or gone)."""
        ...

    async def ready_after(self, after: uuid.UUID | None, *, limit: int) -> Sequence[StoredFile]:
        """Up to `limit` `ready` rows with an id above `after` (all when None), by id."""
        ...


class UploadSource(Protocol):
    """An upload as the HTTP layer received it. `size_bytes` is exact (the part has been
    received); `chunks` yields the bytes from the start, each call anew."""

    @property
    def client_name(self) -> str | None: ...

    @property
    def size_bytes(self) -> int: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def zip_names(self) -> list[str]:
        """The names in the zip's central directory; [] when it is not a readable zip."""
        ...
