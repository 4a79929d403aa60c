"""Fixed-window rate limits counted in the shared `Cache` (SPEC §3.10).

A window starts with the first hit on a key and lasts `window_seconds`; every hit inside it
adds one, and a hit is allowed while the count is at most the limit. Because
`Cache.increment` is atomic across processes, any number of API processes together let
exactly `limit` hits through per window, never more. Refused hits are counted too (they do
not extend the window), so a client that keeps hammering gains nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from tessera.shared.application.ports import Cache, Clock

KEY_PREFIX = "ratelimit"


@dataclass(frozen=True, slots=True)
class RateLimitGroup:
    """A named limit shared by every caller of one kind (`auth`, `api`, `admin`)."""

    name: str
    limit: int
    window_seconds: int = 60

    def key(self, identifier: str) -> str:
        return f"{KEY_PREFIX}:{self.name}:{identifier}"


class RateLimitDecision(msgspec.Struct, frozen=True):
    """The outcome of one hit, with what the caller needs to pace itself.

    `remaining` is how many more hits the window allows (never negative);
    `reset_after_seconds` is when the window ends, rounded up and at least 1, and is also the
    `Retry-After` of a refused hit; `reset_at_epoch` is the same moment as Unix seconds.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: int
    reset_at_epoch: int


class RateLimiter:
    """Counts hits per group and identifier; raises `DependencyUnavailable` if the cache does."""

    def __init__(self, cache: Cache, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock

    async def hit(self, group: RateLimitGroup, identifier: str) -> RateLimitDecision:
        counter = await self._cache.increment(
            group.key(identifier), window_seconds=group.window_seconds
        )
        reset_after = max(math.ceil(counter.resets_in), 1)
        return RateLimitDecision(
            allowed=counter.value <= group.limit,
            limit=group.limit,
            remaining=max(group.limit - counter.value, 0),
            reset_after_seconds=reset_after,
            reset_at_epoch=math.ceil(self._clock.now().timestamp() + counter.resets_in),
        )

    async def take_back(self, group: RateLimitGroup, identifier: str) -> None:
        """Undo one `hit` of this window, for a hit counted against the wrong identifier
        (a caller that turned out not to be who its token claimed). Should the window have
        ended in between, the next one starts one lower: a request more, never one less."""
        await self._cache.increment(
            group.key(identifier), window_seconds=group.window_seconds, amount=-1
        )
