"""The embedded mode's cache: a dict with expiry, correct for one process."""

from __future__ import annotations

import time
from collections.abc import Callable

from tessera.shared.application.ports import Counter


class InMemoryCache:
    """Complete `Cache` for one process.

    No await happens inside an operation, so each is atomic with respect to other tasks on
    the event loop, as a Redis command is. Counters are stored as decimal bytes, as in Redis.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._writes = 0

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        self._write(key, value, self._now() + ttl_seconds)

    async def delete(self, *keys: str) -> int:
        return sum(self._entries.pop(key, None) is not None for key in keys if self._live(key))

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        current = self._live(key)
        if current is None:
            value, expires = amount, self._now() + window_seconds
        else:
            value, expires = int(current) + amount, self._entries[key][1]
        self._write(key, str(value).encode(), expires)
        return Counter(value=value, resets_in=max(expires - self._now(), 0.0))

    async def ping(self) -> None:
        return None

    def _live(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._now():
            del self._entries[key]
            return None
        return entry[0]

    def _write(self, key: str, value: bytes, expires: float) -> None:
        self._entries[key] = (value, expires)
        self._writes += 1
        if self._writes % 1024 == 0:
            self._sweep()

    def _sweep(self) -> None:
        """Drop expired entries now and then, so memory follows the live keys only."""
        now = self._now()
        for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
