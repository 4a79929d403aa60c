"""`RateLimiter` over the in-memory cache: fixed windows, exact limits, honest reset times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.rate_limits import RateLimiter, RateLimitGroup

START = datetime(2030, 1, 1, tzinfo=UTC)
LOGIN = RateLimitGroup("auth", limit=3)


class Time:
    """One clock for both the cache's monotonic time and the limiter's wall clock."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)


def limiter_and_time() -> tuple[RateLimiter, InMemoryCache, Time]:
    time = Time()
    cache = InMemoryCache(monotonic=time.monotonic)
    return RateLimiter(cache, time), cache, time


async def test_the_limit_is_allowed_and_the_next_hit_refused() -> None:
    limiter, _, _ = limiter_and_time()
    decisions = [await limiter.hit(LOGIN, "203.0.113.9") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.limit for d in decisions} == {3}


async def test_the_window_is_sixty_seconds_from_the_first_hit() -> None:
    limiter, _, time = limiter_and_time()
    first = await limiter.hit(LOGIN, "203.0.113.9")
    assert first.reset_after_seconds == 60
    assert first.reset_at_epoch == int(START.timestamp()) + 60
    time.elapsed = 20.5
    later = await limiter.hit(LOGIN, "203.0.113.9")
    assert later.reset_after_seconds == 40  # 39.5 rounded up: never earlier than the truth
    assert later.reset_at_epoch == int(START.timestamp()) + 60


async def test_refused_hits_do_not_extend_the_window_and_it_then_resets() -> None:
    limiter, _, time = limiter_and_time()
    for _ in range(3):
        await limiter.hit(LOGIN, "203.0.113.9")
    time.elapsed = 59.0
    refused = await limiter.hit(LOGIN, "203.0.113.9")
    assert not refused.allowed
    assert refused.reset_after_seconds == 1
    time.elapsed = 60.0
    fresh = await limiter.hit(LOGIN, "203.0.113.9")
    assert (fresh.allowed, fresh.remaining, fresh.reset_after_seconds) == (True, 2, 60)


async def test_identifiers_and_groups_are_counted_separately() -> None:
    limiter, _, _ = limiter_and_time()
    api = RateLimitGroup("api", limit=3)
    for _ in range(3):
        await limiter.hit(LOGIN, "203.0.113.9")
    assert not (await limiter.hit(LOGIN, "203.0.113.9")).allowed
    assert (await limiter.hit(LOGIN, "198.51.100.7")).allowed
    assert (await limiter.hit(api, "203.0.113.9")).allowed


async def test_counters_live_under_ratelimit_group_identifier() -> None:
    limiter, cache, _ = limiter_and_time()
    await limiter.hit(LOGIN, "203.0.113.9")
    await limiter.hit(RateLimitGroup("api", limit=100), "user-1")
    assert await cache.get("ratelimit:auth:203.0.113.9") == b"1"
    assert await cache.get("ratelimit:api:user-1") == b"1"


async def test_concurrent_hits_let_exactly_the_limit_through() -> None:
    limiter, _, _ = limiter_and_time()
    group = RateLimitGroup("api", limit=100)
    decisions = await asyncio.gather(*(limiter.hit(group, "user-1") for _ in range(250)))
    assert sum(d.allowed for d in decisions) == 100
    assert sorted(d.remaining for d in decisions)[-1] == 99
