from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC
from typing import IO

import msgspec

from tessera.features.backups.application.ports import DatabaseDumper
from tessera.features.backups.domain.backup import BACKUP_CONTENT_TYPE, backup_key
from tessera.shared.application.ports import Clock
from tessera.shared.application.storage import FileStorage

logger = logging.getLogger("tessera.backups")

SPOOL_MEMORY_BYTES = 1024 * 1024
"""Compressed bytes kept in memory before the spool moves to a temporary file."""
CHUNK_BYTES = 1024 * 1024


class BackupResult(msgspec.Struct, frozen=True):
    key: str
    size_bytes: int
    """Of the gzipped object."""
    sql_bytes: int
    sha256: str
    """Of the gzipped object, as stored."""
    duration_seconds: float


class BackUpDatabase:
    """Dumps the database, gzips it and stores it as today's (UTC) backup, replacing one
    made earlier the same day.

    Memory stays flat whatever the size of the database: the dump is compressed chunk by
    chunk into a spooled temporary file, and only a dump that completed is uploaded, from
    that file; a failed dump raises and leaves the store as it was.
    """

    def __init__(
        self,
        dumper: DatabaseDumper,
        storage: FileStorage,
        clock: Clock,
        *,
        spool_memory_bytes: int = SPOOL_MEMORY_BYTES,
    ) -> None:
        self._dumper = dumper
        self._storage = storage
        self._clock = clock
        self._spool_memory_bytes = spool_memory_bytes

    async def execute(self) -> BackupResult:
        started = time.monotonic()
        created_at = self._clock.now()
        key = backup_key(created_at.astimezone(UTC).date())
        with tempfile.SpooledTemporaryFile(max_size=self._spool_memory_bytes) as spool:
            sql_bytes, sql_sha256 = await self._compress_into(spool)
            size_bytes = spool.tell()
            gzip_sha256 = _sha256_of(spool)
            metadata = {
                "created-at": created_at.isoformat(),
                "size": str(size_bytes),
                "sha256": gzip_sha256,
                "sql-bytes": str(sql_bytes),
                "sql-sha256": sql_sha256,
            }
            spool.seek(0)
            stored = await self._storage.put(
                key, _chunks(spool), content_type=BACKUP_CONTENT_TYPE, metadata=metadata
            )
        result = BackupResult(
            key=stored.key,
            size_bytes=stored.size_bytes,
            sql_bytes=sql_bytes,
            sha256=gzip_sha256,
            duration_seconds=round(time.monotonic() - started, 3),
        )
        logger.info("database backed up", extra=msgspec.structs.asdict(result))
        return result

    async def _compress_into(self, spool: IO[bytes]) -> tuple[int, str]:
        """gzip (`wbits=31`: gzip header and trailer) the whole dump into `spool`."""
        compressor = zlib.compressobj(level=6, wbits=31)
        digest = hashlib.sha256()
        total = 0
        async for chunk in self._dumper.dump():
            total += len(chunk)
            digest.update(chunk)
            spool.write(compressor.compress(chunk))
        spool.write(compressor.flush())
        return total, digest.hexdigest()


def _sha256_of(spool: IO[bytes]) -> str:
    spool.seek(0)
    digest = hashlib.sha256()
    while block := spool.read(CHUNK_BYTES):
        digest.update(block)
    return digest.hexdigest()


async def _chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    while block := spool.read(CHUNK_BYTES):
        yield block
