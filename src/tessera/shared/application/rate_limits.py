"""Fixed-window rate limits (SPEC §3.10): groups, the decision on a hit, the counting.

A window starts with the first hit on a key and lasts `window_seconds`; every hit inside it
adds one, and a hit is allowed while the count is at most the limit. Counting is atomic
across processes, so any number of API processes together let exactly `limit` hits through
per window, never more. Refused hits are counted too (they do not extend the window), so a
client that keeps hammering gains nothing.

Two counters count: `RateLimiter` counts by address in the shared `Cache`; an authenticated
caller is counted by the session check itself (`LiveSessions.touch`), in the group of the
session's current role (`RoleLimits`), in the same atomic step that finds the session alive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import msgspec

from tessera.shared.application.ports import Cache, Clock, Counter
from tessera.shared.domain.caller import Role

KEY_PREFIX = "ratelimit"


@dataclass(frozen=True, slots=True)
class RateLimitGroup:
    """A named limit shared by every caller of one kind (`auth`, `api`, `admin`)."""

    name: str
    limit: int
    window_seconds: int = 60

    def key(self, identifier: str) -> str:
        return f"{KEY_PREFIX}:{self.name}:{identifier}"


@dataclass(frozen=True, slots=True, eq=False)
class RoleLimits:
    """The groups authenticated callers are counted in, by their session's current role:
    administrators in `admin`, everyone else in `api`. Equal only to itself: the session
    touch keeps its keys per session and `RoleLimits` (an LRU cache), and hashing by
    identity there is a pointer, not two groups' fields (about 0.6 µs a request)."""

    api: RateLimitGroup
    admin: RateLimitGroup

    def group_for(self, role: Role) -> RateLimitGroup:
        return self.admin if role is Role.ADMIN else self.api


class RateLimitDecision(msgspec.Struct, frozen=True):
    """The outcome of one hit in `group`, with what the caller needs to pace itself.

    `remaining` is how many more hits the window allows (never negative);
    `reset_after_seconds` is when the window ends, rounded up and at least 1, and is also the
    `Retry-After` of a refused hit; `reset_at_epoch` is the same moment as Unix seconds.
    """

    group: RateLimitGroup
    allowed: bool
    remaining: int
    reset_after_seconds: int
    reset_at_epoch: int

    @property
    def limit(self) -> int:
        return self.group.limit


def decide(group: RateLimitGroup, counter: Counter, now: datetime) -> RateLimitDecision:
    """The decision on a hit that brought the group's counter to `counter` at `now`."""
    return RateLimitDecision(
        group=group,
        allowed=counter.value <= group.limit,
        remaining=max(group.limit - counter.value, 0),
        reset_after_seconds=max(math.ceil(counter.resets_in), 1),
        reset_at_epoch=math.ceil(now.timestamp() + counter.resets_in),
    )


class RateLimiter:
    """Counts hits per group and identifier in the `Cache`; raises `DependencyUnavailable` if
    the cache does."""

    def __init__(self, cache: Cache, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock

    async def hit(self, group: RateLimitGroup, identifier: str) -> RateLimitDecision:
        counter = await self._cache.increment(
            group.key(identifier), window_seconds=group.window_seconds
        )
        return decide(group, counter, self._clock.now())
