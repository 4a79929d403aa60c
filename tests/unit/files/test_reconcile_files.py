"""`ReconcileFiles` with fakes: orphan objects under `uploads/` past the grace period go,
expired pending uploads go with their objects, a row's object and other prefixes are never
touched, a ready file whose object is missing is reported and kept, and one whose object
lacks its download name gets it (the same bytes written again)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from tessera.features.files.application.ports import FileRepository
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
from tessera.shared.application.storage import FileStorage, ObjectNotFound, StoredObject
from tessera.shared.application.tenant_scope import TenantScope
from tests.fakes.memory_storage import MemoryStorage

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PENDING_CUTOFF = NOW - UPLOAD_LINK_TTL - HOUR  # with the default margin


class World:
    """Rows (writes wait for `commit`, as in SQL) and a bucket of objects."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, StoredFile] = {}
        self.objects: dict[str, datetime | None] = {}  # key -> last_modified
        self.staged: list[Callable[[], object]] = []
        self.deleted: list[str] = []
        self.commits = 0
        self.listed_prefixes: list[str] = []

    def row(
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
        self.rows[file.id] = file
        if with_object:
            self.objects[file.storage_key] = created
        return file

    # FileRepository (what the chore uses)
    async def keys_in(self, keys: Collection[str]) -> set[str]:
        held = {file.storage_key for file in self.rows.values()}
        return {key for key in keys if key in held}

    async def stale_pending(self, before: datetime, *, limit: int) -> Sequence[StoredFile]:
        found = [
            f
            for f in self.rows.values()
            if f.status is FileStatus.PENDING and f.created_at < before
        ]
        return sorted(found, key=lambda f: (f.created_at, f.id))[:limit]

    async def remove_pending(self, file_id: uuid.UUID) -> bool:
        file = self.rows.get(file_id)
        if file is None or file.status is not FileStatus.PENDING:
            return False
        self.staged.append(lambda: self.rows.pop(file_id))
        return True

    async def ready_after(self, after: uuid.UUID | None, *, limit: int) -> Sequence[StoredFile]:
        ready = sorted(
            (f for f in self.rows.values() if f.status is FileStatus.READY), key=lambda f: f.id
        )
        return [f for f in ready if after is None or f.id > after][:limit]

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        return self.rows.get(file_id)

    # UnitOfWork
    async def commit(self) -> None:
        self.commits += 1
        for change in self.staged:
            change()
        self.staged.clear()

    async def rollback(self) -> None:
        self.staged.clear()

    # Clock
    def now(self) -> datetime:
        return NOW

    # FileStorage (what the chore uses)
    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        self.listed_prefixes.append(prefix)
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            yield StoredObject(key=key, size_bytes=1, last_modified=self.objects[key])

    async def head(self, key: str) -> StoredObject:
        if key not in self.objects:
            raise ObjectNotFound(details={"key": key})
        held = [file.original_name for file in self.rows.values() if file.storage_key == key]
        return StoredObject(
            key=key,
            size_bytes=1,
            last_modified=self.objects[key],
            download_name=held[0] if held else None,  # written with its row's name
        )

    async def delete(self, key: str) -> None:
        self.deleted.append(key)
        self.objects.pop(key, None)

    def chore(
        self,
        *,
        batch_size: int = 500,
        scope: TenantScope | None = None,
        storage: FileStorage | None = None,
    ) -> ReconcileFiles:
        return ReconcileFiles(
            cast(FileRepository, self),
            storage or cast(FileStorage, self),
            self,
            self,
            scope or TenantScope(),
            ReconcileConfig(batch_size=batch_size),
        )


async def test_orphans_under_uploads_go_once_older_than_the_grace_period() -> None:
    world = World()
    old = "uploads/documents/old.pdf"
    at_the_boundary = "uploads/images/boundary.png"
    fresh = "uploads/images/fresh.png"
    world.objects |= {
        old: NOW - HOUR - timedelta(seconds=1),
        at_the_boundary: NOW - HOUR,
        fresh: NOW - timedelta(minutes=5),
    }

    assert await world.chore().execute() == 1

    assert world.deleted == [old]
    assert set(world.objects) == {at_the_boundary, fresh}


async def test_an_object_a_row_holds_is_never_deleted_however_old() -> None:
    world = World()
    ready = world.row(FileStatus.READY, created=NOW - 1000 * HOUR)
    pending = world.row(FileStatus.PENDING, created=NOW - 10 * timedelta(minutes=1))
    world.objects[pending.storage_key] = NOW - 1000 * HOUR  # an old object, a fresh row

    assert await world.chore().execute() == 0

    assert world.deleted == []
    assert set(world.objects) == {ready.storage_key, pending.storage_key}


async def test_what_a_link_wrote_after_its_file_was_completed_or_removed_goes_at_once() -> None:
    world = World()
    ready = world.row(FileStatus.READY, created=NOW - timedelta(minutes=3))
    pending = world.row(FileStatus.PENDING, created=NOW - timedelta(minutes=2))
    removed_id = uuid.uuid4()
    sent_after = {
        upload_key(ready.id, FileType.PDF): NOW - timedelta(seconds=5),
        upload_key(removed_id, FileType.PDF): NOW - timedelta(seconds=5),
    }
    world.objects |= sent_after
    fresh_copy = storage_key(pending.id, FileType.PDF, version="c0ffee")  # a completion's
    world.objects[fresh_copy] = NOW - timedelta(seconds=1)

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
    world.objects |= dict.fromkeys(others, ancient)
    world.objects["uploads/documents/orphan.pdf"] = ancient

    assert await world.chore().execute() == 1

    assert world.listed_prefixes == ["uploads/"]
    assert world.deleted == ["uploads/documents/orphan.pdf"]
    assert sorted(world.objects) == sorted(others)


async def test_an_object_of_unknown_age_is_kept() -> None:
    world = World()
    world.objects["uploads/documents/unknown.pdf"] = None

    assert await world.chore().execute() == 0

    assert "uploads/documents/unknown.pdf" in world.objects


async def test_pending_rows_past_the_link_expiry_and_margin_go_with_their_objects() -> None:
    world = World()
    expired = world.row(FileStatus.PENDING, created=PENDING_CUTOFF - timedelta(seconds=1))
    never_sent = world.row(FileStatus.PENDING, created=NOW - 30 * HOUR, with_object=False)
    boundary = world.row(FileStatus.PENDING, created=PENDING_CUTOFF)
    recent = world.row(FileStatus.PENDING, created=NOW - timedelta(minutes=2))

    assert await world.chore().execute() == 2

    assert set(world.rows) == {boundary.id, recent.id}
    assert expired.storage_key not in world.objects
    assert set(world.deleted) == {expired.storage_key, never_sent.storage_key}
    assert boundary.storage_key in world.objects
    assert recent.storage_key in world.objects


async def test_pending_rows_expire_in_batches_of_one_transaction_each() -> None:
    world = World()
    for minutes in range(5):
        world.row(FileStatus.PENDING, created=NOW - 30 * HOUR + timedelta(minutes=minutes))

    assert await world.chore(batch_size=2).execute() == 5

    assert world.rows == {}
    assert world.objects == {}
    assert world.commits == 3  # 2 + 2 + 1


async def test_a_pending_upload_completed_meanwhile_is_not_deleted() -> None:
    world = World()
    file = world.row(FileStatus.PENDING, created=NOW - 30 * HOUR)
    real_stale = world.stale_pending

    async def stale_then_completed(before: datetime, *, limit: int) -> Sequence[StoredFile]:
        found = await real_stale(before, limit=limit)
        file.status = FileStatus.READY  # CompleteUpload won the race
        return found

    world.stale_pending = stale_then_completed  # type: ignore[method-assign]

    assert await world.chore().execute() == 0

    assert file.id in world.rows
    assert world.deleted == []


async def test_a_ready_file_without_its_object_is_logged_at_error_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    lost = world.row(FileStatus.READY, with_object=False)
    fine = world.row(FileStatus.READY)

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
    file = world.row(FileStatus.READY, with_object=False)
    file = dataclasses.replace(file, sha256=hashlib.sha256(data).hexdigest())
    world.rows[file.id] = file
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
    world.rows[file.id] = dataclasses.replace(file, sha256=hashlib.sha256(b"other").hexdigest())
    before = await storage.head(file.storage_key)

    with caplog.at_level(logging.INFO, logger="tessera.files"):
        assert await world.chore(storage=storage).execute() == 0

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["file object differs from its row"]
    assert errors[0].__dict__["file_id"] == str(file.id)
    assert await storage.head(file.storage_key) == before
    assert storage.data(file.storage_key) == PDF_BYTES


class DeletedWhileRead(MemoryStorage):
    """The file is deleted (row, then object, as `DeleteFile` does) while its object is
    being read."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        async for chunk in super().open(key, chunk_bytes=chunk_bytes):
            yield chunk
            held = [id_ for id_, file in self.world.rows.items() if file.storage_key == key]
            for file_id in held:
                del self.world.rows[file_id]
                await self.delete(key)


async def test_a_file_deleted_while_its_object_is_written_again_loses_its_object() -> None:
    world = World()
    storage = DeletedWhileRead(world)
    file = await ready_in(world, storage)

    assert await world.chore(storage=storage).execute() == 0

    assert world.rows == {}
    with pytest.raises(ObjectNotFound):
        await storage.head(file.storage_key)
