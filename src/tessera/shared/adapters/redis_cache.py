"""`Cache` on Redis: shared by every API and worker process."""

from __future__ import annotations

import asyncio
import math
from typing import cast

from tessera.shared.adapters.outages import REDIS_DOWN
from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.application.ports import Counter
from tessera.shared.domain.errors import DependencyUnavailable

# INCRBY and the first window's PEXPIRE in one step, so no key is left without expiry.
_INCREMENT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {value, redis.call('PTTL', KEYS[1])}
"""


class RedisCache:
    """Commands go through the `CommandBatcher`, so concurrent requests share pipelines."""

    def __init__(self, batcher: CommandBatcher, *, prefix: str = "") -> None:
        self._redis = batcher
        self._prefix = prefix
        self._increment = batcher.script(_INCREMENT)

    async def get(self, key: str) -> bytes | None:
        async with translate_redis_errors():
            return cast(bytes | None, await self._redis.execute("GET", self._key(key)))

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        async with translate_redis_errors():
            await self._redis.execute("SET", self._key(key), value, "PX", _ms(ttl_seconds))

    async def delete(self, *keys: str) -> int:
        async with translate_redis_errors():
            # One DEL per key, all in the same batch: a cluster refuses a DEL whose keys
            # live in several hash slots.
            found = await asyncio.gather(*(self._redis.execute("DEL", self._key(k)) for k in keys))
        return sum(cast(list[int], found))

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        async with translate_redis_errors():
            reply = await self._redis.run(
                self._increment, keys=[self._key(key)], args=[amount, _ms(window_seconds)]
            )
        value, pttl = cast(list[int], reply)
        return Counter(value=int(value), resets_in=max(int(pttl), 0) / 1000)

    async def ping(self) -> None:
        async with translate_redis_errors():
            await self._redis.execute("PING")

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), 1)


_DOWN = (*REDIS_DOWN, OSError)


class _RedisErrors:
    """`async with translate_redis_errors():` turns an unreachable, timed-out or failing-over
    Redis into `DependencyUnavailable` (a class, not a generator: it wraps every cache call).
    A cluster client that reaches none of its nodes raises its own error from the
    connection's, hence the look at the cause."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if error is not None and (isinstance(error, _DOWN) or isinstance(error.__cause__, _DOWN)):
            raise DependencyUnavailable(
                "The cache is unavailable.", details={"module": "cache"}
            ) from error


_TRANSLATOR = _RedisErrors()


def translate_redis_errors() -> _RedisErrors:
    return _TRANSLATOR
