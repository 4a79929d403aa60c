"""`LeaderLease` in memory: the embedded mode's single scheduler, and the tests' reference."""

from __future__ import annotations

import time
from collections.abc import Callable

LeaseTable = dict[str, tuple[str, float]]
"""Key -> (holder, expiry on the monotonic clock): what the leases of one process share."""


class InMemoryLeaderLease:
    """Complete `LeaderLease` among the holders sharing one `LeaseTable` (one process).
    No await happens inside an operation, so each is atomic, as a Redis command is."""

    def __init__(
        self,
        table: LeaseTable,
        *,
        key: str,
        holder: str,
        seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._key = key
        self._holder = holder
        self._seconds = seconds
        self._now = monotonic

    @property
    def key(self) -> str:
        return self._key

    @property
    def holder(self) -> str:
        return self._holder

    async def acquire(self) -> bool:
        if self._current() is not None:
            return False
        self._table[self._key] = (self._holder, self._now() + self._seconds)
        return True

    async def renew(self) -> bool:
        if self._current() != self._holder:
            return False
        self._table[self._key] = (self._holder, self._now() + self._seconds)
        return True

    async def release(self) -> None:
        if self._current() == self._holder:
            del self._table[self._key]

    def _current(self) -> str | None:
        entry = self._table.get(self._key)
        if entry is None or entry[1] <= self._now():
            return None
        return entry[0]
