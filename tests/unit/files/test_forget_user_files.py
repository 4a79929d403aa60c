"""A purged account's files (`user.purged`): rows first, in committed batches with
`file.deleted`, then objects; other users' files untouched; safe to repeat. And
`EveryHandler`, which runs several features' handlers of one job type."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from tessera.features.files.application.forget_user_files import BATCH, ForgetUserFiles
from tessera.features.files.domain.file import StoredFile
from tessera.features.jobs.application.every_handler import EveryHandler
from tessera.features.jobs.domain.job import Job
from tessera.shared.domain.events import Event
from tests.fakes.memory_storage import MemoryStorage

NOW = datetime(2026, 5, 1, tzinfo=UTC)
TENANT = uuid.uuid4()


def a_file(user_id: uuid.UUID) -> StoredFile:
    file_id = uuid.uuid4()
    return StoredFile(
        id=file_id,
        tenant_id=TENANT,
        user_id=user_id,
        kind="document",
        content_type="application/pdf",
        size_bytes=10,
        original_name="a.pdf",
        sha256="0" * 64,
        storage_key=f"uploads/documents/{file_id}.pdf",
        status="ready",
        uploaded_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


class Rows:
    """Files rows, an outbox and commits: pending changes apply on commit only."""

    def __init__(self, files: list[StoredFile]) -> None:
        self.committed = {f.id: f for f in files}
        self.removed: set[uuid.UUID] = set()
        self.events: list[Event] = []
        self.pending_events: list[Event] = []
        self.commits = 0

    async def of_user(self, user_id: uuid.UUID, *, limit: int) -> Sequence[StoredFile]:
        mine = [f for f in self.committed.values() if f.user_id == user_id]
        return [f for f in mine if f.id not in self.removed][:limit]

    async def remove(self, file_id: uuid.UUID) -> bool:
        if file_id in self.removed or file_id not in self.committed:
            return False
        self.removed.add(file_id)
        return True

    def record(self, event: Event) -> None:
        self.pending_events.append(event)

    async def commit(self) -> None:
        for file_id in self.removed:
            self.committed.pop(file_id, None)
        self.removed.clear()
        self.events += self.pending_events
        self.pending_events = []
        self.commits += 1

    async def rollback(self) -> None:
        self.removed.clear()
        self.pending_events = []


async def test_a_purged_users_files_go_rows_then_objects_in_batches() -> None:
    gone_user, other = uuid.uuid4(), uuid.uuid4()
    files = [a_file(gone_user) for _ in range(BATCH + 5)] + [a_file(other)]
    rows, storage = Rows(files), MemoryStorage()
    for file in files:
        await storage.put(file.storage_key, b"%PDF-", content_type="application/pdf")
    forget = ForgetUserFiles(rows, storage, rows, rows)  # type: ignore[arg-type]
    assert await forget.execute(gone_user) == BATCH + 5
    assert rows.commits == 2
    assert [f.user_id for f in rows.committed.values()] == [other]
    assert [o.key async for o in storage.list("uploads/")] == [files[-1].storage_key]
    assert {e.type for e in rows.events} == {"file.deleted"}
    assert len(rows.events) == BATCH + 5
    assert rows.events[0].payload["reason"] == "account purged"
    assert await forget.execute(gone_user) == 0  # again: nothing left, nothing breaks


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
