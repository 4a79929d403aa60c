"""`StoreFile` with fakes: what is stored and recorded, and that every refusal or failure
leaves neither an object nor a row."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tessera.features.files.application.ports import FileFilter
from tessera.features.files.application.store_file import StoreFile
from tessera.features.files.application.stored_files import FilesConfig
from tessera.features.files.domain.file import (
    FileTooLarge,
    QuotaExceeded,
    StoredFile,
    UnsupportedFileType,
)
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event
from tessera.shared.domain.pagination import Page, PageRequest
from tests.fakes.memory_storage import MemoryStorage
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


class World:
    def __init__(self, *, used: int = 0) -> None:
        self.rows: dict[uuid.UUID, StoredFile] = {}
        self.events: list[Event] = []
        self.pending: list[Event] = []
        self.commits = 0
        self.fail_commit = False
        self.used = used
        self.used_after_first_check: int | None = None
        self.storage = MemoryStorage()
        self.holds: list[uuid.UUID] = []

    # FileRepository
    async def add(self, file: StoredFile) -> None:
        self.rows[file.id] = file

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        return self.rows.get(file_id)

    async def remove(self, file_id: uuid.UUID) -> bool:
        return self.rows.pop(file_id, None) is not None

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID, where: FileFilter
    ) -> Page[StoredFile]:
        raise NotImplementedError

    async def hold_quota(self, tenant_id: uuid.UUID) -> None:
        self.holds.append(tenant_id)

    async def used_bytes(self, tenant_id: uuid.UUID) -> int:
        used = self.used
        if self.used_after_first_check is not None:
            self.used = self.used_after_first_check
        return used + sum(f.size_bytes for f in self.rows.values() if f.tenant_id == tenant_id)

    # Outbox, UnitOfWork, Clock
    def record(self, event: Event) -> None:
        self.pending.append(event)

    async def commit(self) -> None:
        if self.fail_commit:
            raise RuntimeError("database went away")
        self.events += self.pending
        self.pending = []
        self.commits += 1

    async def rollback(self) -> None:
        self.pending = []

    def now(self) -> datetime:
        return NOW

    def use_case(self, *, max_bytes: int = 10_000, quota: int = 100_000) -> StoreFile:
        return StoreFile(self, self.storage, self, self, self, FilesConfig(max_bytes, quota))

    def nothing_kept(self) -> bool:
        return not self.rows and not self.storage.objects and not self.events


async def test_an_upload_is_stored_under_a_server_key_with_metadata_and_recorded() -> None:
    world = World()
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
    world = World()
    view = await world.use_case().execute(CALLER, Source(DOCX, "cv.exe"))
    assert view.content_type.endswith("wordprocessingml.document")
    assert f"uploads/documents/{view.id}.docx" in world.storage.objects
    other = World()
    with pytest.raises(UnsupportedFileType):
        await other.use_case().execute(CALLER, Source(PLAIN_ZIP, "x.docx"))
    assert other.nothing_kept()


async def test_text_turning_into_markup_after_the_sniffed_start_is_refused_and_removed() -> None:
    world = World()
    data = b" " * 9000 + b"<script>alert(1)</script>"
    with pytest.raises(UnsupportedFileType):
        await world.use_case().execute(CALLER, Source(data, "a.txt"))
    assert world.nothing_kept()
    invalid = World()
    with pytest.raises(UnsupportedFileType):
        await invalid.use_case().execute(CALLER, Source(b"a" * 9000 + b"\xff", "a.txt"))
    assert invalid.nothing_kept()


async def test_a_stream_longer_than_announced_is_aborted_at_the_limit() -> None:
    world = World()
    source = Source(PNG + b"\x00" * 20_000, size=100)  # says 100 bytes, sends more
    with pytest.raises(FileTooLarge):
        await world.use_case(max_bytes=10_000).execute(CALLER, source)
    assert world.nothing_kept()


async def test_over_the_size_limit_or_the_quota_nothing_is_stored() -> None:
    world = World()
    with pytest.raises(FileTooLarge):
        await world.use_case(max_bytes=len(PNG) - 1).execute(CALLER, Source(PNG))
    full = World(used=1000)
    with pytest.raises(QuotaExceeded):
        await full.use_case(quota=1000 + len(PNG) - 1).execute(CALLER, Source(PNG))
    assert world.nothing_kept()
    assert full.nothing_kept()
    exact = World(used=1000)
    await exact.use_case(quota=1000 + len(PNG)).execute(CALLER, Source(PNG))
    assert len(exact.rows) == 1


async def test_the_quota_is_checked_again_after_the_transfer() -> None:
    world = World()
    world.used_after_first_check = 100_000  # another upload filled it meanwhile
    with pytest.raises(QuotaExceeded):
        await world.use_case(quota=100_000).execute(CALLER, Source(PNG))
    assert world.nothing_kept()


async def test_a_failed_commit_removes_the_object() -> None:
    world = World()
    world.fail_commit = True
    with pytest.raises(RuntimeError):
        await world.use_case().execute(CALLER, Source(PNG))
    assert not world.storage.objects
    assert not world.events
