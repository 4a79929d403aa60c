"""Uploads straight to storage (SPEC §3.6): `POST /files/uploads` reserves a `pending` row and
returns a presigned upload; `POST /files/{id}/complete` checks what arrived and marks it
`ready`, or deletes object and row."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.store_file import file_uploaded
from tessera.features.files.application.stored_files import (
    FilesConfig,
    FileView,
    delete_quietly,
    reachable_file,
)
from tessera.features.files.domain.file import (
    ACCEPTED_CONTENT_TYPES,
    SNIFF_BYTES,
    FileNotFound,
    FileStatus,
    FileType,
    NotFileOwner,
    Sniffed,
    StoredFile,
    TextCheck,
    UnsupportedFileType,
    UploadNotAccepted,
    UploadNotReceived,
    check_quota,
    display_name,
    office_type,
    sniff,
    storage_key,
    upload_key,
)
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.storage import FileStorage, ObjectNotFound, StoredObject
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.patterns import described

UPLOAD_LINK_TTL = timedelta(minutes=5)
ZIP_SPOOL_BYTES = 1024 * 1024
Spool = tempfile.SpooledTemporaryFile[bytes]


# Documented as an enum, checked by `StartUpload`: as a type, an enum would make msgspec
# answer 400 before the use case can give the 415 that `POST /files` gives for the same
# file type (Litestar copies `extra` into the OpenAPI schema).
ContentType = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={
            "description": "A type Tessera stores; another is a 415 naming content_type.",
            "extra": {"enum": list(ACCEPTED_CONTENT_TYPES)},
        }
    ),
]
# The upper bound is a setting (FILE_MAX_BYTES), so the document only names it.
SizeBytes = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        description="The exact size to be uploaded; at most FILE_MAX_BYTES (25 MiB unless "
        "configured), else a 400 naming size_bytes.",
    ),
]
Sha256 = Annotated[
    str, msgspec.Meta(pattern=described("^[0-9a-fA-F]{64}$", "64 hexadecimal digits"))
]


class NewUpload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`sha256`, when given (64 hex digits), is what the completed object must hash to."""

    content_type: ContentType
    size_bytes: SizeBytes
    filename: str | None = None
    sha256: Sha256 | None = None


class UploadTicket(msgspec.Struct, frozen=True, kw_only=True):
    """Send `method` to `url` with exactly `headers` (`Content-Type`, `Content-Length`) and
    the bytes before `expires_at`, then `POST /files/{file.id}/complete`."""

    file: FileView
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


class StartUpload:
    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: FilesConfig,
    ) -> None:
        self._files, self._storage, self._uow = files, storage, unit_of_work
        self._clock, self._config = clock, config

    async def execute(self, caller: Principal, data: NewUpload) -> UploadTicket:
        file_type = FileType.by_content_type(data.content_type)
        if file_type is None:
            raise UnsupportedFileType(field="content_type")
        if data.size_bytes > self._config.max_file_bytes:  # a field of a small body: a 400
            raise InvalidInput(
                f"size_bytes is over the limit of {self._config.max_file_bytes} bytes.",
                field="size_bytes",
                details={"max_bytes": self._config.max_file_bytes},
            )
        declared_sha256 = (data.sha256 or "").lower()
        await self._files.hold_quota(caller.tenant_id)  # one decision at a time
        used = await self._files.used_bytes(caller.tenant_id)
        check_quota(
            used_bytes=used,
            incoming_bytes=data.size_bytes,
            quota_bytes=self._config.quota_bytes_per_tenant,
        )
        file_id, now = uuid.uuid4(), self._clock.now()
        key = upload_key(file_id, file_type)  # never a ready file's key: see CompleteUpload
        file = StoredFile(
            id=file_id,
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            kind=file_type.kind,
            content_type=file_type.content_type,
            size_bytes=data.size_bytes,
            original_name=display_name(data.filename),
            sha256=declared_sha256,
            storage_key=key,
            status=FileStatus.PENDING,
            uploaded_at=now,
            created_at=now,
            updated_at=now,
        )
        await self._files.add(file)
        await self._uow.commit()
        upload = await self._storage.presign_upload(
            key,
            content_type=file_type.content_type,
            size_bytes=data.size_bytes,
            expires_in=UPLOAD_LINK_TTL,
        )
        return UploadTicket(
            file=FileView.of(file),
            url=upload.url,
            method=upload.method,
            headers=dict(upload.headers),
            expires_at=upload.expires_at,
        )


class CompleteUpload:
    """The uploader's pending file. The link stays usable until it expires, so nothing is
    checked where it writes (the row's key, under `uploads/incoming/`): the object is read
    once (one version of it, whatever is sent meanwhile) and what was read is written to a
    key of this completion's own, which nothing else ever writes, with the file's type,
    metadata and download name (`Content-Disposition`), checked and hashed on the way. So
    the recorded size and SHA-256 are exactly what a download serves, whatever is sent to
    the link afterwards.

    Nothing uploaded yet: 409, the row stays for a retry. The object must be exactly the
    declared size (at most `FILE_MAX_BYTES`) and content type, its bytes the declared type
    (sniffed, a zip's directory read, text checked throughout), and its SHA-256 the declared
    one when the upload declared it; a refusal aborts the write and removes row and
    uploaded object (400). Then the row becomes `ready` at the new key, only while still
    pending: of two completions racing, one wins and the other deletes its object and
    answers what the winner recorded. Last, `file.uploaded` and the commit, then the
    uploaded object goes."""

    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        config: FilesConfig,
    ) -> None:
        self._files, self._storage, self._outbox = files, storage, outbox
        self._uow, self._clock, self._scope, self._config = unit_of_work, clock, scope, config

    async def execute(self, caller: Principal, file_id: uuid.UUID) -> FileView:
        file = await reachable_file(self._files, self._scope, caller, file_id)
        if file.user_id != caller.user_id and caller.role is not Role.ADMIN:
            raise NotFileOwner("Only the uploader may complete this upload.", field="file_id")
        if file.status is FileStatus.READY:
            return FileView.of(file)
        await self._uow.rollback()  # no transaction held open while the object is read
        declared = FileType.by_content_type(file.content_type)
        assert declared is not None, "a pending row holds one of the accepted types"
        key = storage_key(file.id, declared, version=secrets.token_hex(8))
        now = self._clock.now()
        try:
            self._check_object(file, await self._storage.head(file.storage_key))  # cheap first
            sha256 = await self._keep(file, declared, key, now)
        except ObjectNotFound:  # nothing uploaded yet, or another completion took it
            return await self._settled(file, pending=UploadNotReceived(field="file_id"))
        except (UploadNotAccepted, UnsupportedFileType) as refused:
            await delete_quietly(self._storage, key)
            return await self._refuse(file, refused.message)
        except Exception:
            await delete_quietly(self._storage, key)
            raise
        ready = dataclasses.replace(
            file,
            status=FileStatus.READY,
            storage_key=key,
            sha256=sha256,
            uploaded_at=now,
            updated_at=now,
        )
        try:
            won = await self._files.mark_ready(ready)
            if won:
                self._outbox.record(file_uploaded(ready))
                await self._uow.commit()
            else:
                await self._uow.rollback()
        except Exception:
            await delete_quietly(self._storage, key)
            raise
        if not won:
            await delete_quietly(self._storage, key)
            return await self._settled(file)
        await delete_quietly(self._storage, file.storage_key)  # the link writes only there
        return FileView.of(ready)

    def _check_object(self, file: StoredFile, stored: StoredObject) -> None:
        limit = min(file.size_bytes, self._config.max_file_bytes)
        if stored.size_bytes != file.size_bytes or stored.size_bytes > limit:
            raise UploadNotAccepted("The object's size is not the declared one.")
        if stored.content_type != file.content_type:
            raise UploadNotAccepted("The object's content type is not the declared one.")

    async def _keep(self, file: StoredFile, declared: FileType, key: str, now: datetime) -> str:
        """The uploaded bytes, read once, written to `key` through `_Checked`; their
        SHA-256. A refusal raises before the write completes, so nothing is kept."""
        metadata = {
            "user_id": str(file.user_id),
            "uploaded_at": now.isoformat(),
            "content_type": declared.content_type,
            "size_bytes": str(file.size_bytes),
        }
        with tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_BYTES) as spool:
            checked = _Checked(file, declared, spool)
            chunks = self._storage.open(file.storage_key, chunk_bytes=256 * 1024)
            try:
                await self._storage.put(
                    key,
                    checked.body(chunks),
                    content_type=declared.content_type,
                    metadata=metadata,
                    download_name=file.original_name,
                )
            except Exception:
                if checked.failure is not None:
                    raise checked.failure from None  # the adapter may have wrapped it
                raise
        return checked.sha256

    async def _refuse(self, file: StoredFile, message: str) -> FileView:
        """Row and uploaded object go, unless another completion made the file ready
        meanwhile: then what it recorded stands, and only the uploaded object goes."""
        removed = await self._files.remove_pending(file.id)
        await self._uow.commit()
        await delete_quietly(self._storage, file.storage_key)
        if removed:
            raise UploadNotAccepted(message, field="file_id")
        return await self._settled(file)

    async def _settled(self, file: StoredFile, *, pending: Exception | None = None) -> FileView:
        """The file as another request left it: ready (a completion won) is the answer; a
        row still pending raises `pending`; a row gone, `FileNotFound`."""
        try:
            current = await self._files.get(file.id)
        finally:
            await self._uow.rollback()
        if current is not None and current.status is FileStatus.READY:
            return FileView.of(current)
        if current is not None and pending is not None:
            raise pending
        raise FileNotFound(field="file_id")


class _Checked:
    """The uploaded bytes on their way to the file's own key: counted against the declared
    size, hashed, the first ones kept for sniffing, text checked throughout, an office
    document's zip spooled for its directory. The transfer is aborted by raising as soon as
    one check fails; the last checks run after the last chunk, before the write ends."""

    def __init__(self, file: StoredFile, declared: FileType, spool: Spool) -> None:
        self._file, self._declared, self._spool = file, declared, spool
        self._text = TextCheck() if declared is FileType.TEXT else None
        self._hash = hashlib.sha256()
        self._size, self._head = 0, b""
        self.failure: Exception | None = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def body(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                self._take(chunk)
                yield chunk
            self._finish()
        except (UploadNotAccepted, UnsupportedFileType) as refused:
            self.failure = refused
            raise

    def _take(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._file.size_bytes:
            raise UploadNotAccepted("The object is larger than declared.")
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        if self._text is not None and not self._text.feed(chunk):
            raise UnsupportedFileType()
        self._hash.update(chunk)
        if self._declared in (FileType.DOCX, FileType.XLSX, FileType.PPTX):
            self._spool.write(chunk)

    def _finish(self) -> None:
        if self._size != self._file.size_bytes:
            raise UploadNotAccepted("The object's size is not the declared one.")
        if self._text is not None and not self._text.feed(b"", final=True):
            raise UnsupportedFileType()
        found = sniff(self._head)
        if found is Sniffed.ZIP:
            found = office_type(_zip_names(self._spool))
        if found is not self._declared:
            raise UploadNotAccepted("The uploaded bytes are not of the declared content type.")
        if self._file.sha256 and self.sha256 != self._file.sha256:  # the declared one
            raise UploadNotAccepted("The object's SHA-256 is not the declared one.")


def _zip_names(copy: Spool) -> list[str]:
    try:
        copy.seek(0)
        with zipfile.ZipFile(copy) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return []
