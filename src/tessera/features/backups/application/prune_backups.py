from __future__ import annotations

import logging
from datetime import timedelta

import msgspec

from tessera.features.backups.domain.backup import BACKUP_PREFIX, backup_day
from tessera.shared.application.ports import Clock
from tessera.shared.application.storage import FileStorage

logger = logging.getLogger("tessera.backups")


class PruneResult(msgspec.Struct, frozen=True):
    deleted: tuple[str, ...]
    kept: int


class PruneBackups:
    """Deletes the backups of days more than `keep_days` before today (UTC): today's and
    those of the last `keep_days` days stay. Only keys that are exactly a backup's
    (`backups/YYYY-MM-DD/database-backup.sql.gz`) are considered; anything else under
    `backups/` is left alone. Idempotent."""

    def __init__(self, storage: FileStorage, clock: Clock, *, keep_days: int) -> None:
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1")
        self._storage = storage
        self._clock = clock
        self._keep_days = keep_days

    async def execute(self) -> PruneResult:
        oldest_kept = self._clock.now().date() - timedelta(days=self._keep_days)
        expired: list[str] = []
        kept = 0
        async for stored in self._storage.list(BACKUP_PREFIX):
            day = backup_day(stored.key)
            if day is None:
                continue
            if day < oldest_kept:
                expired.append(stored.key)
            else:
                kept += 1
        for key in expired:  # after listing: no deleting under a running listing
            await self._storage.delete(key)
        if expired:
            logger.info("old backups deleted", extra={"deleted": len(expired), "kept": kept})
        return PruneResult(deleted=tuple(expired), kept=kept)
