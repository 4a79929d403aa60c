from __future__ import annotations

import hashlib
import math

from tessera.features.identity.domain.throttle import WINDOW_SECONDS, TooManyFailures, delay_after
from tessera.shared.application.ports import Cache


class LoginThrottle:
    """Counts failed sign-ins per email, whether or not the account exists, so the throttle
    itself reveals nothing; emails are hashed in the keys (no addresses in Redis)."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    async def check(self, email: str) -> None:
        waiting = await self._cache.get(self._key(email, "wait"))
        if waiting is not None:
            raise TooManyFailures(retry_after=max(1, math.ceil(float(waiting.decode()))))

    async def failed(self, email: str) -> None:
        counter = await self._cache.increment(self._key(email, "n"), window_seconds=WINDOW_SECONDS)
        delay = delay_after(counter.value)
        if delay:
            await self._cache.set(self._key(email, "wait"), str(delay).encode(), ttl_seconds=delay)

    async def forget(self, email: str) -> None:
        await self._cache.delete(self._key(email, "n"), self._key(email, "wait"))

    @staticmethod
    def _key(email: str, kind: str) -> str:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        return f"login:failures:{kind}:{digest}"
