"""`LeaderLease` on Redis: one key, whatever Redis runs as (single, Sentinel, Cluster).

The key holds the holder's token and expires after the lease. Taking it is `SET NX PX`;
renewing and releasing are scripts that first check the token, so a holder whose lease ran
out (a paused process coming back) cannot extend or delete its successor's.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis, RedisCluster

from tessera.shared.adapters.outages import REDIS_DOWN
from tessera.shared.domain.errors import DependencyUnavailable

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeaderLease:
    def __init__(
        self, client: Redis | RedisCluster, *, key: str, holder: str, seconds: float
    ) -> None:
        self._client = client
        self._key = key
        self._holder = holder
        self._ms = max(math.ceil(seconds * 1000), 1)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def key(self) -> str:
        return self._key

    @property
    def holder(self) -> str:
        return self._holder

    async def acquire(self) -> bool:
        async with _unavailable():
            return bool(await self._client.set(self._key, self._holder, nx=True, px=self._ms))

    async def renew(self) -> bool:
        async with _unavailable():
            return bool(await self._renew(keys=[self._key], args=[self._holder, self._ms]))

    async def release(self) -> None:
        async with _unavailable():
            await self._release(keys=[self._key], args=[self._holder])


@asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    try:
        yield
    except REDIS_DOWN as error:
        raise DependencyUnavailable(
            "The scheduler lease is unavailable.", details={"module": "scheduler lease"}
        ) from error
