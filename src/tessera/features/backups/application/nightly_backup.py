from __future__ import annotations

import logging

import msgspec

from tessera.features.backups.application.back_up_database import BackUpDatabase, BackupResult
from tessera.features.backups.application.prune_backups import PruneBackups, PruneResult
from tessera.features.backups.domain.backup import BackupsNeedPostgres

logger = logging.getLogger("tessera.backups")


class NightlyBackupResult(msgspec.Struct, frozen=True):
    backup: BackupResult | None
    """None when skipped (SQLite)."""
    pruned: PruneResult | None


class NightlyBackup:
    """The scheduled job: today's backup, then the expired ones deleted. On SQLite it logs
    and does nothing. A failed backup raises before anything is pruned, so failing nights
    never eat into the backups that exist."""

    def __init__(self, back_up: BackUpDatabase, prune: PruneBackups) -> None:
        self._back_up = back_up
        self._prune = prune

    async def execute(self) -> NightlyBackupResult:
        try:
            backup = await self._back_up.execute()
        except BackupsNeedPostgres:
            logger.warning("nightly backup skipped: backups need PostgreSQL")
            return NightlyBackupResult(backup=None, pruned=None)
        return NightlyBackupResult(backup=backup, pruned=await self._prune.execute())
