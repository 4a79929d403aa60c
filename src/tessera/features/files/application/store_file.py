"""`POST /files`: check, stream to storage, record (SPEC §3.6)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

from tessera.features.files.application.ports import FileRepository, UploadSource
from tessera.features.files.application.stored_files import (
    FilesConfig,
    FileView,
    delete_quietly,
)
from tessera.features.files.domain.file import (
    SNIFF_BYTES,
    EmptyFile,
    FileStatus,
    FileTooLarge,
    FileType,
    Sniffed,
    StoredFile,
    TextCheck,
    UnsupportedFileType,
    check_quota,
    check_size,
    display_name,
    office_type,
    sniff,
    storage_key,
)
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.storage import FileStorage
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import DomainError, InvalidInput
from tessera.shared.domain.events import Event


class StoreFile:
    """Size and quota first (nothing stored); the type from the first bytes (and a zip's
    directory); then the bytes stream to `uploads/{kind}s/{id}.{ext}` while their size,
    SHA-256 and, for text, UTF-8 validity are checked, so a file that turns out too large
    or not text is aborted and removed. The quota is checked again, the row inserted and
    `file.uploaded` recorded in one transaction; if that fails the object is deleted."""

    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: FilesConfig,
    ) -> None:
        self._files, self._storage, self._outbox = files, storage, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, caller: Principal, source: UploadSource) -> FileView:
        size = source.size_bytes
        check_size(size, max_bytes=self._config.max_file_bytes)
        if size == 0:
            raise EmptyFile(field="file")
        await self._check_quota(caller, size)
        await self._uow.rollback()  # no transaction held open while the bytes travel
        chunks = source.chunks()
        head = await _read_head(chunks)
        file_type = await _file_type(head, source)
        file_id = uuid.uuid4()
        key = storage_key(file_id, file_type)
        name = display_name(source.client_name)
        now = self._clock.now()
        stream = _CheckedStream(head, chunks, file_type, max_bytes=self._config.max_file_bytes)
        metadata = {
            "user_id": str(caller.user_id),
            "uploaded_at": now.isoformat(),
            "content_type": file_type.content_type,
            "size_bytes": str(size),
        }
        try:
            await self._storage.put(
                key,
                stream.body(),
                content_type=file_type.content_type,
                metadata=metadata,
                download_name=name,
            )
            stream.finish(expected_size=size)
        except BaseException as error:
            await delete_quietly(self._storage, key)
            if stream.failure is not None and stream.failure is not error:
                raise stream.failure from None  # the adapter may have wrapped our refusal
            raise
        file = StoredFile(
            id=file_id,
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            kind=file_type.kind,
            content_type=file_type.content_type,
            size_bytes=size,
            original_name=name,
            sha256=stream.sha256,
            storage_key=key,
            status=FileStatus.READY,
            uploaded_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._files.hold_quota(caller.tenant_id)  # one decision at a time
            await self._check_quota(caller, size)  # again: others may have uploaded meanwhile
            await self._files.add(file)
            self._outbox.record(file_uploaded(file))
            await self._uow.commit()
        except BaseException:
            await delete_quietly(self._storage, key)
            raise
        return FileView.of(file)

    async def _check_quota(self, caller: Principal, size: int) -> None:
        used = await self._files.used_bytes(caller.tenant_id)
        check_quota(
            used_bytes=used, incoming_bytes=size, quota_bytes=self._config.quota_bytes_per_tenant
        )


def file_uploaded(file: StoredFile) -> Event:
    return Event(
        "file.uploaded",
        {
            "file_id": str(file.id),
            "tenant_id": str(file.tenant_id),
            "user_id": str(file.user_id),
            "kind": file.kind.value,
            "size_bytes": file.size_bytes,
            "content_type": file.content_type,
        },
        tenant_id=file.tenant_id,
    )


async def _read_head(chunks: AsyncIterator[bytes]) -> list[bytes]:
    """Chunks from the start until at least `SNIFF_BYTES` have arrived (or the end)."""
    head: list[bytes] = []
    seen = 0
    async for chunk in chunks:
        head.append(chunk)
        seen += len(chunk)
        if seen >= SNIFF_BYTES:
            break
    return head


async def _file_type(head: list[bytes], source: UploadSource) -> FileType:
    sniffed = sniff(b"".join(head)[:SNIFF_BYTES])
    if sniffed is Sniffed.ZIP:
        sniffed = office_type(await source.zip_names())
    if not isinstance(sniffed, FileType):
        raise UnsupportedFileType(field="file")
    return sniffed


class _CheckedStream:
    """The upload's bytes on their way to storage: counted, hashed, and for text checked,
    the transfer aborted by raising as soon as one check fails."""

    def __init__(
        self,
        head: list[bytes],
        rest: AsyncIterator[bytes],
        file_type: FileType,
        *,
        max_bytes: int,
    ) -> None:
        self._head, self._rest, self._max = head, rest, max_bytes
        self._text = TextCheck() if file_type is FileType.TEXT else None
        self._hash = hashlib.sha256()
        self.size = 0
        self.failure: DomainError | None = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def body(self) -> AsyncIterator[bytes]:
        for chunk in self._head:
            yield self._checked(chunk)
        async for chunk in self._rest:
            yield self._checked(chunk)

    def _checked(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self._max:
            self._fail(FileTooLarge(field="file", details={"max_bytes": self._max}))
        if self._text is not None and not self._text.feed(chunk):
            self._fail(UnsupportedFileType(field="file"))
        self._hash.update(chunk)
        return chunk

    def finish(self, *, expected_size: int) -> None:
        if self._text is not None and not self._text.feed(b"", final=True):
            self._fail(UnsupportedFileType(field="file"))
        if self.size != expected_size:
            self._fail(InvalidInput("The upload was cut short.", field="file"))

    def _fail(self, error: DomainError) -> None:
        self.failure = error
        raise error
