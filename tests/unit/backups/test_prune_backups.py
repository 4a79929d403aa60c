"""`PruneBackups`: today and the last N days stay, older backups go, nothing else is
touched."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tessera.features.backups.application.prune_backups import PruneBackups
from tessera.features.backups.domain.backup import backup_key
from tessera.main.settings import ConfigError, load_settings
from tests.fakes.memory_storage import MemoryStorage
from tests.unit.backups.fakes import FixedClock

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
FOREIGN = [
    "backups/2020-01-01/notes.txt",
    "backups/2020-01-01/database-backup.sql.gz.partial",
    "backups/2020-02-30/database-backup.sql.gz",
    "backups/old-database-backup.sql.gz",
    "elsewhere/2020-01-01/database-backup.sql.gz",
    "uploads/documents/2020-01-01.pdf",
]


async def stored(storage: MemoryStorage, *keys: str) -> None:
    for key in keys:
        await storage.put(key, b"x", content_type="application/octet-stream")


async def test_keeps_today_and_the_last_n_days_and_deletes_older_backups() -> None:
    storage = MemoryStorage()
    days = [date(2026, 11, d) for d in (22, 21, 19, 18, 17)] + [date(2025, 11, 22)]
    await stored(storage, *(backup_key(day) for day in days))

    result = await PruneBackups(storage, FixedClock(NOW), keep_days=4).execute()

    expected_gone = {backup_key(date(2026, 11, 17)), backup_key(date(2025, 11, 22))}
    assert set(result.deleted) == expected_gone
    assert result.kept == 4
    assert set(storage.objects) == {backup_key(day) for day in days} - expected_gone


async def test_never_deletes_what_is_not_a_backup_key() -> None:
    storage = MemoryStorage()
    await stored(storage, *FOREIGN, backup_key(date(2020, 1, 1)))

    result = await PruneBackups(storage, FixedClock(NOW), keep_days=1).execute()

    assert result.deleted == (backup_key(date(2020, 1, 1)),)
    assert set(storage.objects) == set(FOREIGN)


async def test_pruning_twice_deletes_nothing_more() -> None:
    storage = MemoryStorage()
    await stored(storage, backup_key(date(2026, 1, 1)), backup_key(NOW.date()))
    prune = PruneBackups(storage, FixedClock(NOW), keep_days=14)
    assert (await prune.execute()).deleted == (backup_key(date(2026, 1, 1)),)
    again = await prune.execute()
    assert again.deleted == ()
    assert again.kept == 1


def test_a_retention_below_one_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PruneBackups(MemoryStorage(), FixedClock(NOW), keep_days=0)


def test_backup_retention_days_defaults_to_14_and_must_be_at_least_1() -> None:
    assert load_settings({}, dotenv_path=None).backup_retention_days == 14
    assert (
        load_settings({"BACKUP_RETENTION_DAYS": "3"}, dotenv_path=None).backup_retention_days == 3
    )
    for bad in ("0", "-1", "two"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"BACKUP_RETENTION_DAYS": bad}, dotenv_path=None)
        assert caught.value.variable == "BACKUP_RETENTION_DAYS"
