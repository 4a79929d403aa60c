"""`StoreFile` with fakes: what is stored and recorded, and that every refusal or failure
leaves neither an object nor a row."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime

import pytest

from tessera.features.files.application.store_file import StoreFile
from tessera.features.files.application.stored_files import FilesConfig
from tessera.features.files.domain.file import (
    FileKind,
    FileStatus,
    FileTooLarge,
    QuotaExceeded,
    StoredFile,
    UnsupportedFileType,
)
from tessera.shared.application.storage import Body, StoredObject
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event
from tests.fakes.clock import FakeClock
from tests.fakes.files import FakeFileRepository
from tests.fakes.memory_storage import MemoryStorage
from tests.fakes.unit_of_work import CommitFailed, FakeUnitOfWork, RecordingOutbox
from tests.unit.files.samples import DOCX, PLAIN_ZIP, PNG

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TENANT = uuid.uuid4()
CALLER = Principal(user_id=uuid.uuid4(), tenant_id=TENANT, role=Role.USER, session_id=uuid.uuid4())


class Source:
    def __init__(
        self, data: bytes, name: str | None = "x.bin", *, chunk: int = 1000, size: int | None = None
    ) -> None:
        self.data, self.client_name, self._chunk = data, name, chunk
        self.size_bytes = len(data) if size is None else size

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self._chunk):
            yield self.data[start : start + self._chunk]

    async def zip_names(self) -> list[str]:
        import io
        import zipfile

        return zipfile.ZipFile(io.BytesIO(self.data)).namelist()


class BusyStorage(MemoryStorage):
    """Runs `during_put` once, while an object is being written: what another request
    finishing at that moment would do."""

    def __init__(self) -> None:
        super().__init__()
        self.during_put: Callable[[], Awaitable[object]] | None = None

    async def put(
        self,
        key: str,
        body: Body,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        download_name: str | None = None,
    ) -> StoredObject:
        hook, self.during_put = self.during_put, None
        if hook is not None:
            await hook()
        return await super().put(
            key, body, content_type=content_type, metadata=metadata, download_name=download_name
        )


class World:
    """The fakes a file upload works on; `used` bytes of the tenant are taken already."""

    def __init__(self, *, used: int = 0, storage: MemoryStorage | None = None) -> None:
        self.unit_of_work = FakeUnitOfWork()
        self.files = FakeFileRepository(self.unit_of_work)
        self.outbox = RecordingOutbox(self.unit_of_work)
        self.clock = FakeClock(NOW)
        self.storage = storage or BusyStorage()
        self._before: set[uuid.UUID] = set()
        self.used = used

    async def take(self, size: int) -> None:
        """Another upload of the tenant, committed: `size` bytes of its quota."""
        other = uuid.uuid4()
        self._before.add(other)
        await self.files.add(
            StoredFile(
                id=other,
                tenant_id=TENANT,
                user_id=uuid.uuid4(),
                kind=FileKind.DOCUMENT,
                content_type="application/pdf",
                size_bytes=size,
                original_name="other.pdf",
                sha256="0" * 64,
                storage_key=f"uploads/documents/{uuid.uuid4()}.pdf",
                status=FileStatus.READY,
                uploaded_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await self.unit_of_work.commit()

    async def prepared(self) -> World:
        if self.used:
            await self.take(self.used)
        self.outbox.events.clear()
        return self

    @property
    def rows(self) -> dict[uuid.UUID, StoredFile]:
        """The rows this test's uploads committed."""
        kept = self.files.rows.committed()
        return {file_id: row for file_id, row in kept.items() if file_id not in self._before}

    @property
    def events(self) -> list[Event]:
        return self.outbox.events

    def use_case(self, *, max_bytes: int = 10_000, quota: int = 100_000) -> StoreFile:
        config = FilesConfig(max_bytes, quota)
        return StoreFile(
            self.files, self.storage, self.outbox, self.unit_of_work, self.clock, config
        )

    def nothing_kept(self) -> bool:
        return not self.rows and not self.storage.objects and not self.events


async def a_world(*, used: int = 0) -> World:
    return await World(used=used).prepared()


async def test_an_upload_is_stored_under_a_server_key_with_metadata_and_recorded() -> None:
    world = await a_world()
    view = await world.use_case().execute(CALLER, Source(PNG, "../../etc/passwd"))
    key = f"uploads/images/{view.id}.png"
    data, stored = world.storage.objects[key]
    assert data == PNG
    assert stored.content_type == "image/png"
    assert stored.metadata == {
        "user_id": str(CALLER.user_id),
        "uploaded_at": NOW.isoformat(),
        "content_type": "image/png",
        "size_bytes": str(len(PNG)),
    }
    assert view.original_name == "passwd"
    assert view.kind == "image"
    assert view.sha256 == hashlib.sha256(PNG).hexdigest()
    assert view.size_bytes == len(PNG)
    assert world.rows[view.id].storage_key == key
    (event,) = world.events
    assert event.type == "file.uploaded"
    assert event.tenant_id == TENANT
    assert event.payload == {
        "file_id": str(view.id),
        "tenant_id": str(TENANT),
        "user_id": str(CALLER.user_id),
        "kind": "image",
        "size_bytes": len(PNG),
        "content_type": "image/png",
    }


async def test_an_office_zip_is_a_document_and_a_plain_zip_is_refused() -> None:
    world = await a_world()
    view = await world.use_case().execute(CALLER, Source(DOCX, "cv.exe"))
    assert view.content_type.endswith("wordprocessingml.document")
    assert f"uploads/documents/{view.id}.docx" in world.storage.objects
    other = await a_world()
    with pytest.raises(UnsupportedFileType):
        await other.use_case().execute(CALLER, Source(PLAIN_ZIP, "x.docx"))
    assert other.nothing_kept()


async def test_text_turning_into_markup_after_the_sniffed_start_is_refused_and_removed() -> None:
    world = await a_world()
    data = b" " * 9000 + b"<script>alert(1)</script>"
    with pytest.raises(UnsupportedFileType):
        await world.use_case().execute(CALLER, Source(data, "a.txt"))
    assert world.nothing_kept()
    invalid = await a_world()
    with pytest.raises(UnsupportedFileType):
        await invalid.use_case().execute(CALLER, Source(b"a" * 9000 + b"\xff", "a.txt"))
    assert invalid.nothing_kept()


async def test_a_stream_longer_than_announced_is_aborted_at_the_limit() -> None:
    world = await a_world()
    source = Source(PNG + b"\x00" * 20_000, size=100)  # says 100 bytes, sends more
    with pytest.raises(FileTooLarge):
        await world.use_case(max_bytes=10_000).execute(CALLER, source)
    assert world.nothing_kept()


async def test_over_the_size_limit_or_the_quota_nothing_is_stored() -> None:
    world = await a_world()
    with pytest.raises(FileTooLarge):
        await world.use_case(max_bytes=len(PNG) - 1).execute(CALLER, Source(PNG))
    full = await a_world(used=1000)
    with pytest.raises(QuotaExceeded):
        await full.use_case(quota=1000 + len(PNG) - 1).execute(CALLER, Source(PNG))
    assert world.nothing_kept()
    assert full.nothing_kept()
    exact = await a_world(used=1000)
    await exact.use_case(quota=1000 + len(PNG)).execute(CALLER, Source(PNG))
    assert len(exact.rows) == 1


async def test_the_quota_is_checked_again_after_the_transfer() -> None:
    world = await a_world()
    assert isinstance(world.storage, BusyStorage)
    world.storage.during_put = lambda: world.take(100_000)  # another upload filled it
    with pytest.raises(QuotaExceeded):
        await world.use_case(quota=100_000).execute(CALLER, Source(PNG))
    assert world.nothing_kept()


async def test_a_failed_commit_removes_the_object() -> None:
    world = await a_world()
    world.unit_of_work.fail_next_commit = True
    with pytest.raises(CommitFailed):
        await world.use_case().execute(CALLER, Source(PNG))
    assert not world.storage.objects
    assert not world.events
