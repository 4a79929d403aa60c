"""A purged account's files (`user.purged`): rows first, in committed batches with
`file.deleted`, then objects; other users' files untouched; safe to repeat. And
`EveryHandler`, which runs several features' handlers of one job type."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tessera.features.files.application.forget_user_files import BATCH, ForgetUserFiles
from tessera.features.files.domain.file import FileKind, FileStatus, StoredFile
from tessera.features.jobs.application.every_handler import EveryHandler
from tessera.features.jobs.domain.job import Job
from tests.fakes.files import FakeFileRepository
from tests.fakes.memory_storage import MemoryStorage
from tests.fakes.unit_of_work import CommitFailed, FakeUnitOfWork, RecordingOutbox

NOW = datetime(2026, 5, 1, tzinfo=UTC)
TENANT = uuid.uuid4()


def a_file(user_id: uuid.UUID) -> StoredFile:
    file_id = uuid.uuid4()
    return StoredFile(
        id=file_id,
        tenant_id=TENANT,
        user_id=user_id,
        kind=FileKind.DOCUMENT,
        content_type="application/pdf",
        size_bytes=10,
        original_name="a.pdf",
        sha256="0" * 64,
        storage_key=f"uploads/documents/{file_id}.pdf",
        status=FileStatus.READY,
        uploaded_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


async def with_files(
    files: list[StoredFile],
) -> tuple[FakeFileRepository, RecordingOutbox, FakeUnitOfWork, MemoryStorage]:
    unit_of_work = FakeUnitOfWork()
    rows, outbox, storage = (
        FakeFileRepository(unit_of_work),
        RecordingOutbox(unit_of_work),
        MemoryStorage(),
    )
    for file in files:
        await rows.add(file)
        await storage.put(file.storage_key, b"%PDF-", content_type="application/pdf")
    await unit_of_work.commit()
    return rows, outbox, unit_of_work, storage


async def test_a_purged_users_files_go_rows_then_objects() -> None:
    gone_user, other = uuid.uuid4(), uuid.uuid4()
    files = [a_file(gone_user) for _ in range(BATCH + 5)] + [a_file(other)]
    rows, outbox, unit_of_work, storage = await with_files(files)
    forget = ForgetUserFiles(rows, storage, outbox, unit_of_work)
    assert await forget.execute(gone_user) == BATCH + 5
    assert [f.user_id for f in rows.rows.committed().values()] == [other]
    assert [o.key async for o in storage.list("uploads/")] == [files[-1].storage_key]
    assert {e.type for e in outbox.events} == {"file.deleted"}
    assert len(outbox.events) == BATCH + 5
    assert outbox.events[0].payload["reason"] == "account purged"
    assert await forget.execute(gone_user) == 0  # again: nothing left, nothing breaks


async def test_an_object_stays_until_its_row_is_committed_gone() -> None:
    gone_user = uuid.uuid4()
    files = [a_file(gone_user) for _ in range(BATCH + 5)]
    rows, outbox, unit_of_work, storage = await with_files(files)
    unit_of_work.fail_commit_number = unit_of_work.commits + 2
    with pytest.raises(CommitFailed):
        await ForgetUserFiles(rows, storage, outbox, unit_of_work).execute(gone_user)
    kept = rows.rows.committed()
    assert len(kept) == 5, "the first batch went for good"
    assert {o.key async for o in storage.list("uploads/")} == {f.storage_key for f in kept.values()}
    assert len(outbox.events) == BATCH


async def test_a_failed_object_deletion_leaves_the_rows_gone() -> None:
    gone_user = uuid.uuid4()
    rows, outbox, unit_of_work, storage = await with_files([a_file(gone_user)])
    storage.fail_deletes = True
    assert await ForgetUserFiles(rows, storage, outbox, unit_of_work).execute(gone_user) == 1
    assert rows.rows.committed() == {}  # the reconciliation removes the orphan object later


class Recorder:
    def __init__(self, log: list[str], name: str, error: Exception | None = None) -> None:
        self.log, self.name, self.error = log, name, error

    async def handle(self, job: Job) -> None:
        self.log.append(self.name)
        if self.error is not None:
            raise self.error


JOB = Job(job_id="j", type="user.purged", data={}, attempts=0, created_at=NOW.isoformat())


async def test_every_handler_runs_each_in_order_and_a_failure_stops_and_propagates() -> None:
    log: list[str] = []
    await EveryHandler(Recorder(log, "avatars"), Recorder(log, "files")).handle(JOB)
    assert log == ["avatars", "files"]
    log.clear()
    failing = EveryHandler(Recorder(log, "a", RuntimeError("down")), Recorder(log, "b"))
    with pytest.raises(RuntimeError, match="down"):
        await failing.handle(JOB)
    assert log == ["a"]
