"""`ChallengeStore` adapters: Redis (`GETDEL`, shared by every process) and memory (the
embedded mode's, one process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.adapters.redis_cache import translate_redis_errors

_FIRST_SWEEP = 1024


def _key(purpose: str, challenge_id: str) -> str:
    return f"webauthn:{purpose}:{challenge_id}"


class RedisChallengeStore:
    """`webauthn:<purpose>:<id>` keys with a TTL; taken with `GETDEL`, one atomic command,
    so two takes of one challenge (on any processes) never both get it."""

    def __init__(self, batcher: CommandBatcher, *, prefix: str = "") -> None:
        self._redis, self._prefix = batcher, prefix

    async def put(
        self, purpose: str, challenge_id: str, challenge: bytes, *, ttl_seconds: int
    ) -> None:
        key = self._prefix + _key(purpose, challenge_id)
        async with translate_redis_errors():
            await self._redis.execute("SET", key, challenge, "EX", ttl_seconds)

    async def take(self, purpose: str, challenge_id: str) -> bytes | None:
        key = self._prefix + _key(purpose, challenge_id)
        async with translate_redis_errors():
            return cast(bytes | None, await self._redis.execute("GETDEL", key))


class InMemoryChallengeStore:
    """A dict with expiry. No await inside an operation, so each is atomic with respect to
    the event loop's other tasks. Expired entries are swept when the dict has doubled
    since the last sweep, so a flood of unused challenges costs amortised constant time."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._sweep_at = _FIRST_SWEEP

    async def put(
        self, purpose: str, challenge_id: str, challenge: bytes, *, ttl_seconds: int
    ) -> None:
        now = self._now()
        if len(self._entries) >= self._sweep_at:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._entries))
        self._entries[_key(purpose, challenge_id)] = (challenge, now + ttl_seconds)

    async def take(self, purpose: str, challenge_id: str) -> bytes | None:
        entry = self._entries.pop(_key(purpose, challenge_id), None)
        if entry is None or entry[1] <= self._now():
            return None
        return entry[0]
