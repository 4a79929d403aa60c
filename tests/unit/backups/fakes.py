"""Test doubles of the backups feature: a fixed clock, scripted dumpers (storage is
`tests.fakes.memory_storage.MemoryStorage`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from tessera.features.backups.domain.backup import DumpFailed


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class ScriptedDumper:
    """Yields `chunks`, then raises `DumpFailed` if `fail_after` is set (after that many
    chunks), as pg_dump exiting non-zero half-way would."""

    def __init__(self, chunks: Sequence[bytes], *, fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after
        self.runs = 0

    def dump(self) -> AsyncIterator[bytes]:
        return self._dump()

    async def _dump(self) -> AsyncIterator[bytes]:
        self.runs += 1
        for index, chunk in enumerate(self._chunks):
            if self._fail_after is not None and index == self._fail_after:
                raise DumpFailed("pg_dump exited with status 1: connection lost")
            yield chunk
        if self._fail_after is not None:
            raise DumpFailed("pg_dump exited with status 1: connection lost")
