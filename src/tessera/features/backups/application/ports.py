from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class DatabaseDumper(Protocol):
    """A consistent snapshot of the whole database as plain SQL that `psql` can replay into
    an empty database."""

    def dump(self) -> AsyncIterator[bytes]:
        """The dump in chunks, as it is produced (never the whole dump at once).

        Raises `DumpFailed` (possibly after some chunks were yielded, typically at the end)
        when the dump did not complete: what was yielded so far is then no valid backup.
        Raises `BackupsNeedPostgres` on the first iteration when the database cannot be
        dumped this way. Closing the iterator early stops the dump.
        """
        ...
