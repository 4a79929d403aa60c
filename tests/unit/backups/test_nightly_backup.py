"""The nightly job: back up, then prune; on SQLite, skip; after a failed dump, prune
nothing."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

import pytest

from tessera.features.backups.adapters.pg_dump import UnsupportedDumper
from tessera.features.backups.application.back_up_database import BackUpDatabase
from tessera.features.backups.application.nightly_backup import NightlyBackup
from tessera.features.backups.application.ports import DatabaseDumper
from tessera.features.backups.application.prune_backups import PruneBackups
from tessera.features.backups.domain.backup import BackupsNeedPostgres, DumpFailed, backup_key
from tests.fakes.memory_storage import MemoryStorage
from tests.unit.backups.fakes import FixedClock, ScriptedDumper

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
OLD = backup_key(date(2026, 10, 1))


async def nightly(dumper: DatabaseDumper) -> tuple[NightlyBackup, MemoryStorage]:
    storage = MemoryStorage()
    await storage.put(OLD, b"old", content_type="application/gzip")
    clock = FixedClock(NOW)
    job = NightlyBackup(
        BackUpDatabase(dumper, storage, clock), PruneBackups(storage, clock, keep_days=14)
    )
    return job, storage


async def test_backs_up_then_deletes_expired_backups() -> None:
    job, storage = await nightly(ScriptedDumper([b"SELECT 1;\n"]))
    result = await job.execute()
    assert result.backup is not None
    assert result.pruned is not None
    assert result.pruned.deleted == (OLD,)
    assert list(storage.objects) == [backup_key(NOW.date())]
    assert gzip.decompress(storage.data(backup_key(NOW.date()))) == b"SELECT 1;\n"


async def test_on_sqlite_it_skips_and_touches_nothing() -> None:
    job, storage = await nightly(UnsupportedDumper())
    result = await job.execute()
    assert result.backup is None
    assert result.pruned is None
    assert list(storage.objects) == [OLD]


async def test_a_failed_dump_raises_and_prunes_nothing() -> None:
    job, storage = await nightly(ScriptedDumper([b"a"], fail_after=1))
    with pytest.raises(DumpFailed):
        await job.execute()
    assert list(storage.objects) == [OLD]


async def test_the_sqlite_dumper_refuses_on_first_iteration() -> None:
    with pytest.raises(BackupsNeedPostgres, match="PostgreSQL"):
        async for _ in UnsupportedDumper().dump():
            pass
