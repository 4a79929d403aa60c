"""`StartUpload` and `CompleteUpload` with fakes: the link writes a key of its own, the
completion reads it once and keeps what it read (checked on the way) at a key of its own, so
nothing sent to the link (before, during or after the completion, or between two racing
completions) makes the recorded size and SHA-256 differ from the bytes kept."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tessera.features.files.application.presigned_upload import (
    CompleteUpload,
    NewUpload,
    StartUpload,
    UploadTicket,
)
from tessera.features.files.application.stored_files import FilesConfig, FileView
from tessera.features.files.domain.file import (
    FileNotFound,
    FileStatus,
    UploadNotAccepted,
)
from tessera.shared.application.tenant_scope import TenantScope
from tests.fakes.memory_storage import MemoryStorage
from tests.unit.files import test_store_file
from tests.unit.files.samples import PNG
from tests.unit.files.test_store_file import CALLER

OTHER_PNG = PNG[:-4] + b"evil"  # a PNG as far as sniffing goes, of the same size


class HookedStorage(MemoryStorage):
    """Runs `while_read` once, in the middle of the first read (after its first chunk):
    what a client's PUT or a second completion arriving at that moment would do."""

    def __init__(self) -> None:
        super().__init__()
        self.while_read: Callable[[], Awaitable[object]] | None = None

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        async for chunk in super().open(key, chunk_bytes=chunk_bytes):
            yield chunk
            hook, self.while_read = self.while_read, None
            if hook is not None:
                await hook()


class World(test_store_file.World):
    def __init__(self) -> None:
        self.storage: HookedStorage = HookedStorage()
        super().__init__(storage=self.storage)

    def config(self) -> FilesConfig:
        return FilesConfig(max_file_bytes=10_000, quota_bytes_per_tenant=100_000)

    async def start(self, size_bytes: int = len(PNG)) -> UploadTicket:
        start = StartUpload(self.files, self.storage, self.unit_of_work, self.clock, self.config())
        return await start.execute(CALLER, NewUpload("image/png", size_bytes, "a.png"))

    async def complete(self, file_id: uuid.UUID) -> FileView:
        use_case = CompleteUpload(
            self.files,
            self.storage,
            self.outbox,
            self.unit_of_work,
            self.clock,
            TenantScope(),
            self.config(),
        )
        return await use_case.execute(CALLER, file_id)

    async def send(self, ticket: UploadTicket, data: bytes, content_type: str = "") -> None:
        """A client's PUT to the link (the fake store checks no signature)."""
        key = ticket.url.removeprefix("https://store.test/")
        await self.storage.put(key, data, content_type=content_type or "image/png")

    def kept(self) -> dict[str, bytes]:
        return {key: data for key, (data, _) in self.storage.objects.items()}

    def consistent(self, file_id: uuid.UUID) -> bytes:
        """The file's kept bytes, after checking the row describes them."""
        row = self.rows[file_id]
        data = self.storage.data(row.storage_key)
        assert (row.size_bytes, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert self.kept() == {row.storage_key: data}
        return data


async def test_the_link_writes_a_key_of_its_own_and_the_file_is_what_was_read() -> None:
    world = World()
    ticket = await world.start()
    assert ticket.headers == {"Content-Type": "image/png", "Content-Length": str(len(PNG))}
    upload_key = ticket.url.removeprefix("https://store.test/")
    assert upload_key == f"uploads/incoming/{ticket.file.id}.png"
    await world.send(ticket, PNG)

    view = await world.complete(ticket.file.id)

    row = world.rows[ticket.file.id]
    assert row.status is FileStatus.READY
    assert row.storage_key.startswith(f"uploads/images/{ticket.file.id}-")
    assert view.sha256 == hashlib.sha256(PNG).hexdigest()
    assert world.consistent(ticket.file.id) == PNG  # the uploaded object is gone
    kept = await world.storage.head(row.storage_key)
    assert (kept.content_type, kept.download_name) == ("image/png", "a.png")
    assert kept.metadata["user_id"] == str(CALLER.user_id)
    assert kept.metadata["size_bytes"] == str(len(PNG))
    await world.send(ticket, OTHER_PNG)  # the link still works until it expires
    assert world.storage.data(row.storage_key) == PNG
    assert await world.complete(ticket.file.id) == view
    assert [event.type for event in world.events] == ["file.uploaded"]


async def test_a_put_racing_the_completion_is_never_what_is_recorded() -> None:
    world = World()
    ticket = await world.start()
    await world.send(ticket, PNG)
    world.storage.while_read = lambda: world.send(ticket, OTHER_PNG)

    view = await world.complete(ticket.file.id)

    assert view.sha256 == hashlib.sha256(PNG).hexdigest()
    assert world.consistent(ticket.file.id) == PNG


async def test_of_two_racing_completions_one_wins_and_the_other_keeps_nothing() -> None:
    world = World()
    ticket = await world.start()
    await world.send(ticket, PNG)
    second: list[FileView] = []

    async def put_then_complete_again() -> None:
        await world.send(ticket, OTHER_PNG)
        second.append(await world.complete(ticket.file.id))

    world.storage.while_read = put_then_complete_again

    first = await world.complete(ticket.file.id)  # checked PNG, but the second won meanwhile

    assert first == second[0]
    assert first.sha256 == hashlib.sha256(OTHER_PNG).hexdigest()
    assert world.consistent(ticket.file.id) == OTHER_PNG
    assert [event.type for event in world.events] == ["file.uploaded"]


async def test_a_refusal_racing_a_completion_leaves_nothing_behind() -> None:
    world = World()
    ticket = await world.start()
    await world.send(ticket, PNG)
    refusals: list[Exception] = []

    async def put_bad_then_complete_again() -> None:
        await world.send(ticket, PNG + b"more")
        try:
            await world.complete(ticket.file.id)
        except UploadNotAccepted as refused:
            refusals.append(refused)

    world.storage.while_read = put_bad_then_complete_again

    with pytest.raises(FileNotFound):
        await world.complete(ticket.file.id)

    assert len(refusals) == 1
    assert world.rows == {}
    assert world.kept() == {}
    assert world.events == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (PNG[:-1], "image/png"),  # smaller than declared
        (PNG + b"\x00", "image/png"),  # larger
        (PNG, "text/html"),  # the declared size and bytes, served as another type
    ],
)
async def test_another_size_or_content_type_is_refused_and_nothing_kept(
    data: bytes, content_type: str
) -> None:
    world = World()
    ticket = await world.start()
    await world.send(ticket, data, content_type)

    with pytest.raises(UploadNotAccepted) as refused:
        await world.complete(ticket.file.id)

    assert refused.value.field == "file_id"
    assert world.rows == {}
    assert world.kept() == {}
