"""`BackUpDatabase`: today's key, a gzip stream that gives back exactly the dump, metadata
that matches, and a failed dump that writes nothing."""

from __future__ import annotations

import gzip
import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tessera.features.backups.application.back_up_database import CHUNK_BYTES, BackUpDatabase
from tessera.features.backups.domain.backup import DumpFailed, backup_day, backup_key
from tests.fakes.memory_storage import MemoryStorage
from tests.unit.backups.fakes import FixedClock, ScriptedDumper

NOW = datetime(2026, 11, 22, 23, 59, 30, tzinfo=UTC)


def sql_chunks(count: int, size: int, seed: int = 7) -> list[bytes]:
    """Dump-like text with enough randomness that gzip cannot shrink it to nothing."""
    rng = random.Random(seed)
    chunks = []
    for index in range(count):
        row = f"INSERT INTO t VALUES ({index}, '{rng.getrandbits(64):x}');\n".encode()
        chunks.append((row * (size // len(row) + 1))[:size] + rng.randbytes(size // 2))
    return chunks


async def test_the_backup_is_stored_under_todays_utc_date() -> None:
    storage = MemoryStorage()
    result = await BackUpDatabase(
        ScriptedDumper([b"SELECT 1;\n"]), storage, FixedClock(NOW)
    ).execute()
    assert result.key == "backups/2026-11-22/database-backup.sql.gz"
    assert list(storage.objects) == [result.key]


async def test_the_date_is_the_utc_date_even_when_the_clock_is_in_another_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    morning_in_tokyo = datetime(2026, 11, 23, 8, 0, tzinfo=tokyo)  # 2026-11-22 23:00 UTC
    storage = MemoryStorage()
    clock = FixedClock(morning_in_tokyo)
    result = await BackUpDatabase(ScriptedDumper([b"x"]), storage, clock).execute()
    assert result.key == "backups/2026-11-22/database-backup.sql.gz"


def test_keys_and_days_round_trip_and_nothing_else_parses() -> None:
    day = NOW.date()
    assert backup_day(backup_key(day)) == day
    for foreign in [
        "backups/2026-11-22/database-backup.sql.gz.partial",
        "backups/2026-11-22/notes.txt",
        "backups/2026-02-30/database-backup.sql.gz",
        "backups/26-11-22/database-backup.sql.gz",
        "backups/database-backup.sql.gz",
        "old/backups/2026-11-22/database-backup.sql.gz",
        "backups/2026-11-22/sub/database-backup.sql.gz",
    ]:
        assert backup_day(foreign) is None, foreign


async def test_the_object_decompresses_to_exactly_the_dumped_bytes() -> None:
    chunks = [*sql_chunks(count=60, size=100_000), b"", b"-- end\n"]
    storage = MemoryStorage()
    use_case = BackUpDatabase(
        ScriptedDumper(chunks), storage, FixedClock(NOW), spool_memory_bytes=64 * 1024
    )
    result = await use_case.execute()

    stored = storage.data(result.key)
    dumped = b"".join(chunks)
    assert gzip.decompress(stored) == dumped
    assert stored[:2] == b"\x1f\x8b"  # a gzip file, not a bare zlib stream
    assert result.size_bytes == len(stored)
    assert result.sql_bytes == len(dumped)
    assert result.sha256 == hashlib.sha256(stored).hexdigest()
    head = await storage.head(result.key)
    assert head.content_type == "application/gzip"
    assert head.metadata["size"] == str(len(stored))
    assert head.metadata["sha256"] == hashlib.sha256(stored).hexdigest()
    assert head.metadata["sql-bytes"] == str(len(dumped))
    assert head.metadata["sql-sha256"] == hashlib.sha256(dumped).hexdigest()
    assert datetime.fromisoformat(head.metadata["created-at"]) == NOW
    # streamed to the store in bounded chunks, never as one body
    assert len(storage.put_chunk_sizes) > 1
    assert max(storage.put_chunk_sizes) <= CHUNK_BYTES


async def test_a_second_backup_the_same_day_replaces_the_first() -> None:
    storage = MemoryStorage()
    clock = FixedClock(NOW)
    await BackUpDatabase(ScriptedDumper([b"first;\n"]), storage, clock).execute()
    clock.current = NOW + timedelta(seconds=20)
    result = await BackUpDatabase(ScriptedDumper([b"second;\n"]), storage, clock).execute()
    assert list(storage.objects) == [result.key]
    assert gzip.decompress(storage.data(result.key)) == b"second;\n"


@pytest.mark.parametrize("fail_after", [0, 3, 10])
async def test_a_failed_dump_writes_nothing_and_keeps_the_earlier_backup(fail_after: int) -> None:
    storage = MemoryStorage()
    clock = FixedClock(NOW)
    earlier = await BackUpDatabase(ScriptedDumper([b"good;\n"]), storage, clock).execute()
    puts_before = storage.puts

    failing = ScriptedDumper(sql_chunks(count=10, size=10_000), fail_after=fail_after)
    with pytest.raises(DumpFailed, match="connection lost"):
        await BackUpDatabase(failing, storage, clock).execute()

    assert storage.puts == puts_before
    assert list(storage.objects) == [earlier.key]
    assert gzip.decompress(storage.data(earlier.key)) == b"good;\n"


async def test_a_failed_dump_on_an_empty_store_leaves_it_empty() -> None:
    storage = MemoryStorage()
    with pytest.raises(DumpFailed):
        await BackUpDatabase(
            ScriptedDumper([b"a", b"b"], fail_after=1), storage, FixedClock(NOW)
        ).execute()
    assert storage.objects == {}
