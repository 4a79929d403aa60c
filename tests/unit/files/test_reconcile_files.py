"""`ReconcileFiles` with fakes: orphan objects under `uploads/` past the grace period go,
expired pending uploads go with their objects, a row's object and other prefixes are never
touched, a ready file whose object is missing is reported and kept, and one whose object
lacks its download name gets it (the same bytes written again)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.files.application.presigned_upload import UPLOAD_LINK_TTL
from tessera.features.files.application.reconcile_files import ReconcileConfig, ReconcileFiles
from tessera.features.files.domain.file import (
    FileKind,
    FileStatus,
    FileType,
    StoredFile,
    storage_key,
    upload_key,
)
from tessera.shared.application.storage import FileStorage, ObjectNotFound
from tessera.shared.application.tenant_scope import TenantScope
from tests.fakes.clock import FakeClock
from tests.fakes.files import FakeFileRepository
from tests.fakes.memory_storage import MemoryStorage
from tests.fakes.unit_of_work import CommitFailed, FakeUnitOfWork

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PENDING_CUTOFF = NOW - UPLOAD_LINK_TTL - HOUR  # with the default margin


class World:
    """File rows in a unit of work, and a bucket of objects of known (or unknown) age."""

    def __init__(
        self, files: Callable[[FakeUnitOfWork], FakeFileRepository] = FakeFileRepository
    ) -> None:
        self.unit_of_work = FakeUnitOfWork()
        self.files = files(self.unit_of_work)
        self.storage = MemoryStorage()

    async def row(
        self,
        status: FileStatus = FileStatus.READY,
        *,
        created: datetime = NOW - 48 * HOUR,
        with_object: bool = True,
    ) -> StoredFile:
        file_id = uuid.uuid4()
        pending = status is FileStatus.PENDING  # a pending row holds its upload's key
        key = upload_key(file_id, FileType.PDF) if pending else storage_key(file_id, FileType.PDF)
        file = StoredFile(
            id=file_id,
            tenant_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            kind=FileKind.DOCUMENT,
            content_type="application/pdf",
            size_bytes=10,
            original_name="a.pdf",
            sha256="",
            storage_key=key,
            status=status,
            uploaded_at=created,
            created_at=created,
            updated_at=created,
        )
        await self.files.add(file)
        await self.unit_of_work.commit()
        if with_object:  # written with its download name, as uploads are now
            self.storage.place(
                file.storage_key, last_modified=created, download_name=file.original_name
            )
        return file

    def place(self, objects: Mapping[str, datetime | None]) -> None:
        for key, last_modified in objects.items():
            self.storage.place(key, last_modified=last_modified)

    @property
    def objects(self) -> dict[str, datetime | None]:
        return self.storage.ages()

    @property
    def deleted(self) -> list[str]:
        return self.storage.deleted

    @property
    def rows(self) -> dict[uuid.UUID, StoredFile]:
        return self.files.rows.committed()

    def chore(
        self,
        *,
        batch_size: int = 500,
        scope: TenantScope | None = None,
        storage: FileStorage | None = None,
    ) -> ReconcileFiles:
        return ReconcileFiles(
            self.files,
            storage or self.storage,
            self.unit_of_work,
            FakeClock(NOW),
            scope or TenantScope(),
            ReconcileConfig(batch_size=batch_size),
        )


class CompletedMeanwhile(FakeFileRepository):
    """Rows of which every stale pending one is completed (by `CompleteUpload`, in its own
    transaction) right after the chore found it."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        super().__init__(unit_of_work)
        self._unit_of_work = unit_of_work

    async def stale_pending(self, before: datetime, *, limit: int) -> Sequence[StoredFile]:
        found = await super().stale_pending(before, limit=limit)
        for file in found:
            self.rows[file.id] = replace(file, status=FileStatus.READY)
        await self._unit_of_work.commit()
        return found


async def test_orphans_under_uploads_go_once_older_than_the_grace_period() -> None:
    world = World()
    old = "uploads/documents/old.pdf"
    at_the_boundary = "uploads/images/boundary.png"
    fresh = "uploads/images/fresh.png"
    world.place(
        {
            old: NOW - HOUR - timedelta(seconds=1),
            at_the_boundary: NOW - HOUR,
            fresh: NOW - timedelta(minutes=5),
        }
    )

    assert await world.chore().execute() == 1

    assert world.deleted == [old]
    assert set(world.objects) == {at_the_boundary, fresh}


async def test_an_object_a_row_holds_is_never_deleted_however_old() -> None:
    world = World()
    ready = await world.row(FileStatus.READY, created=NOW - 1000 * HOUR)
    pending = await world.row(FileStatus.PENDING, created=NOW - 10 * timedelta(minutes=1))
    world.place({pending.storage_key: NOW - 1000 * HOUR})  # an old object, a fresh row

    assert await world.chore().execute() == 0

    assert world.deleted == []
    assert set(world.objects) == {ready.storage_key, pending.storage_key}


async def test_what_a_link_wrote_after_its_file_was_completed_or_removed_goes_at_once() -> None:
    world = World()
    ready = await world.row(FileStatus.READY, created=NOW - timedelta(minutes=3))
    pending = await world.row(FileStatus.PENDING, created=NOW - timedelta(minutes=2))
    removed_id = uuid.uuid4()
    sent_after = {
        upload_key(ready.id, FileType.PDF): NOW - timedelta(seconds=5),
        upload_key(removed_id, FileType.PDF): NOW - timedelta(seconds=5),
    }
    world.place(sent_after)
    fresh_copy = storage_key(pending.id, FileType.PDF, version="c0ffee")  # a completion's
    world.place({fresh_copy: NOW - timedelta(seconds=1)})

    assert await world.chore().execute() == 2

    assert sorted(world.deleted) == sorted(sent_after)
    assert set(world.objects) == {ready.storage_key, pending.storage_key, fresh_copy}
    assert pending.storage_key.startswith("uploads/incoming/")  # held by its pending row


async def test_only_uploads_are_listed_avatars_and_backups_are_never_touched() -> None:
    world = World()
    ancient = NOW - 10_000 * HOUR
    others = [
        "avatars/u1/avatar-v3.png",
        "backups/2026-01-01/database-backup.sql.gz",
        "uploadsX/a.pdf",
        "misc/uploads/b.pdf",
    ]
    world.place(dict.fromkeys(others, ancient))
    world.place({"uploads/documents/orphan.pdf": ancient})

    assert await world.chore().execute() == 1

    assert world.deleted == ["uploads/documents/orphan.pdf"]
    assert sorted(world.objects) == sorted(others)


async def test_an_object_of_unknown_age_is_kept() -> None:
    world = World()
    world.place({"uploads/documents/unknown.pdf": None})

    assert await world.chore().execute() == 0

    assert "uploads/documents/unknown.pdf" in world.objects


async def test_pending_rows_past_the_link_expiry_and_margin_go_with_their_objects() -> None:
    world = World()
    expired = await world.row(FileStatus.PENDING, created=PENDING_CUTOFF - timedelta(seconds=1))
    never_sent = await world.row(FileStatus.PENDING, created=NOW - 30 * HOUR, with_object=False)
    boundary = await world.row(FileStatus.PENDING, created=PENDING_CUTOFF)
    recent = await world.row(FileStatus.PENDING, created=NOW - timedelta(minutes=2))

    assert await world.chore().execute() == 2

    assert set(world.rows) == {boundary.id, recent.id}
    assert expired.storage_key not in world.objects
    assert set(world.deleted) == {expired.storage_key, never_sent.storage_key}
    assert boundary.storage_key in world.objects
    assert recent.storage_key in world.objects


async def test_pending_rows_expire_batch_after_batch_each_kept_once_committed() -> None:
    world = World()
    files = [
        await world.row(FileStatus.PENDING, created=NOW - 30 * HOUR + timedelta(minutes=minutes))
        for minutes in range(5)
    ]

    assert await world.chore(batch_size=2).execute() == 5
    assert world.rows == {}
    assert world.objects == {}

    again = World()
    files = [
        await again.row(FileStatus.PENDING, created=NOW - 30 * HOUR + timedelta(minutes=minutes))
        for minutes in range(5)
    ]
    again.unit_of_work.fail_commit_number = again.unit_of_work.commits + 2
    with pytest.raises(CommitFailed):
        await again.chore(batch_size=2).execute()
    assert set(again.rows) == {f.id for f in files[2:]}, "the first batch stays removed"


async def test_a_pending_upload_completed_meanwhile_is_not_deleted() -> None:
    world = World(CompletedMeanwhile)
    file = await world.row(FileStatus.PENDING, created=NOW - 30 * HOUR)

    assert await world.chore().execute() == 0

    assert world.rows[file.id].status is FileStatus.READY
    assert world.deleted == []


async def test_a_ready_file_without_its_object_is_logged_at_error_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    lost = await world.row(FileStatus.READY, with_object=False)
    fine = await world.row(FileStatus.READY)

    with caplog.at_level(logging.INFO, logger="tessera.files"):
        assert await world.chore(batch_size=1).execute() == 0

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["file object missing"]
    assert errors[0].__dict__["file_id"] == str(lost.id)
    assert errors[0].__dict__["storage_key"] == lost.storage_key
    assert errors[0].__dict__["tenant_id"] == str(lost.tenant_id)
    assert set(world.rows) == {lost.id, fine.id}
    assert world.rows[lost.id].status is FileStatus.READY
    assert world.deleted == []


async def test_the_chore_takes_the_audited_cross_tenant_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    scope = TenantScope()

    with caplog.at_level(logging.INFO, logger="tessera.audit"):
        await world.chore(scope=scope).execute()

    assert scope.state.all_tenants
    reasons = [r.__dict__.get("reason") for r in caplog.records if r.name == "tessera.audit"]
    assert reasons == ["housekeeping: reconcile files"]


# Objects without their download name (written by an earlier version, or restored)

PDF_BYTES = b"%PDF-1.7 the report"


async def ready_in(
    world: World, storage: MemoryStorage, data: bytes = PDF_BYTES, *, named: bool = False
) -> StoredFile:
    """A ready row whose SHA-256 is that of `data`, and its object in `storage`."""
    file = await world.row(FileStatus.READY, with_object=False)
    file = dataclasses.replace(file, sha256=hashlib.sha256(data).hexdigest())
    world.files.rows.put_committed(file.id, file)
    await storage.put(
        file.storage_key,
        data,
        content_type="application/pdf",
        metadata={"user_id": str(file.user_id)},
        download_name=file.original_name if named else None,
    )
    return file


async def test_an_object_without_its_download_name_is_written_again_with_it() -> None:
    world, storage = World(), MemoryStorage()
    old = await ready_in(world, storage)
    named = await ready_in(world, storage, b"%PDF-1.7 another", named=True)
    named_before = await storage.head(named.storage_key)

    assert await world.chore(storage=storage).execute() == 1

    stamped = await storage.head(old.storage_key)
    assert stamped.download_name == old.original_name
    assert stamped.content_type == "application/pdf"
    assert dict(stamped.metadata) == {"user_id": str(old.user_id)}
    assert storage.data(old.storage_key) == PDF_BYTES
    assert await storage.head(named.storage_key) == named_before  # not written again
    assert await world.chore(storage=storage).execute() == 0  # once is enough


async def test_an_object_that_is_not_its_rows_bytes_is_left_as_it_is_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world, storage = World(), MemoryStorage()
    file = await ready_in(world, storage)
    other = dataclasses.replace(file, sha256=hashlib.sha256(b"other").hexdigest())
    world.files.rows.put_committed(file.id, other)
    before = await storage.head(file.storage_key)

    with caplog.at_level(logging.INFO, logger="tessera.files"):
        assert await world.chore(storage=storage).execute() == 0

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["file object differs from its row"]
    assert errors[0].__dict__["file_id"] == str(file.id)
    assert await storage.head(file.storage_key) == before
    assert storage.data(file.storage_key) == PDF_BYTES


class DeletedWhileRead(MemoryStorage):
    """The file is deleted (row, then object, as `DeleteFile` does, in a transaction of its
    own) while its object is being read."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        async for chunk in super().open(key, chunk_bytes=chunk_bytes):
            yield chunk
            held = [id_ for id_, file in self.world.rows.items() if file.storage_key == key]
            for file_id in held:
                self.world.files.rows.remove_committed(file_id)
                await self.delete(key)


async def test_a_file_deleted_while_its_object_is_written_again_loses_its_object() -> None:
    world = World()
    storage = DeletedWhileRead(world)
    file = await ready_in(world, storage)

    assert await world.chore(storage=storage).execute() == 0

    assert world.rows == {}
    with pytest.raises(ObjectNotFound):
        await storage.head(file.storage_key)
