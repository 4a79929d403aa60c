"""Backups wiring: `pg_dump` on PostgreSQL, a refusal on SQLite. The `FileStorage` comes
from the composition root."""

from __future__ import annotations

from dishka import Provider, Scope, provide

from tessera.features.backups.adapters.pg_dump import PgDumpDumper, UnsupportedDumper
from tessera.features.backups.application.back_up_database import BackUpDatabase
from tessera.features.backups.application.nightly_backup import NightlyBackup
from tessera.features.backups.application.ports import DatabaseDumper
from tessera.features.backups.application.prune_backups import PruneBackups
from tessera.main.settings import Settings
from tessera.shared.application.ports import Clock
from tessera.shared.application.storage import FileStorage


class BackupsProvider(Provider):
    scope = Scope.REQUEST

    @provide(scope=Scope.APP)
    def dumper(self, settings: Settings) -> DatabaseDumper:
        if settings.uses_sqlite:
            return UnsupportedDumper()
        return PgDumpDumper(settings.database_url)

    @provide
    def back_up(self, dumper: DatabaseDumper, storage: FileStorage, clock: Clock) -> BackUpDatabase:
        return BackUpDatabase(dumper, storage, clock)

    @provide
    def prune(self, storage: FileStorage, clock: Clock, settings: Settings) -> PruneBackups:
        return PruneBackups(storage, clock, keep_days=settings.backup_retention_days)

    nightly = provide(NightlyBackup)
