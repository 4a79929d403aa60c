"""What the file use cases share: configuration, the API's view of a file, and reach."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from tessera.features.files.application.ports import FileRepository
from tessera.features.files.domain.file import FileNotFound, StoredFile
from tessera.shared.application.storage import FileStorage
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role

logger = logging.getLogger("tessera.files")

FILE_SORTABLE = ("uploaded_at", "size_bytes", "original_name")
DOWNLOAD_LINK_TTL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class FilesConfig:
    max_file_bytes: int
    quota_bytes_per_tenant: int


class FileView(msgspec.Struct, frozen=True, kw_only=True):
    """A file's metadata as the API shows it; never its storage key."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    content_type: str
    size_bytes: int
    original_name: str
    sha256: str
    status: str
    uploaded_at: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, file: StoredFile) -> FileView:
        return cls(
            id=file.id,
            tenant_id=file.tenant_id,
            user_id=file.user_id,
            kind=file.kind.value,
            content_type=file.content_type,
            size_bytes=file.size_bytes,
            original_name=file.original_name,
            sha256=file.sha256,
            status=file.status.value,
            uploaded_at=file.uploaded_at,
            created_at=file.created_at,
            updated_at=file.updated_at,
        )


class FileDetail(FileView, frozen=True, kw_only=True):
    """Metadata plus a short-lived link that downloads the file as an attachment."""

    download_url: str
    download_expires_at: datetime


async def reachable_file(
    files: FileRepository, scope: TenantScope, caller: Principal, file_id: uuid.UUID
) -> StoredFile:
    """A file of the caller's tenant (an admin: of any tenant); else 404."""
    widen_for_admin(scope, caller)
    file = await files.get(file_id)
    if file is None or (caller.role is not Role.ADMIN and file.tenant_id != caller.tenant_id):
        raise FileNotFound(field="file_id")
    return file


async def delete_quietly(storage: FileStorage, key: str) -> None:
    """No row points at `key` any more: a failure leaves an orphan object, logged."""
    try:
        await storage.delete(key)
    except Exception:
        logger.warning("file object not deleted", extra={"key": key}, exc_info=True)
