"""Where a database backup lives in object storage, and what its key says.

One backup per UTC day, at `backups/YYYY-MM-DD/database-backup.sql.gz`: a plain SQL dump,
gzipped. A key of any other shape under `backups/` is not a backup and is never touched.
"""

from __future__ import annotations

import re
from datetime import date

from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput

BACKUP_PREFIX = "backups/"
BACKUP_FILENAME = "database-backup.sql.gz"
BACKUP_CONTENT_TYPE = "application/gzip"
_BACKUP_KEY = re.compile(r"backups/(\d{4}-\d{2}-\d{2})/database-backup\.sql\.gz")


def backup_key(day: date) -> str:
    """The key of `day`'s backup."""
    return f"{BACKUP_PREFIX}{day.isoformat()}/{BACKUP_FILENAME}"


def backup_day(key: str) -> date | None:
    """The day of the backup at `key`, or None when `key` is not exactly a backup's key
    (another file in a backup folder, a partial name, an impossible date)."""
    match = _BACKUP_KEY.fullmatch(key)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


class BackupsNeedPostgres(InvalidInput):
    default_message = (
        "Backups need PostgreSQL: DATABASE_URL is SQLite (embedded mode); copy the database "
        "file while the server is stopped instead."
    )


class DumpFailed(DependencyUnavailable):
    """The database dump did not complete; no backup was written."""

    default_message = "The database dump failed; no backup was written."
