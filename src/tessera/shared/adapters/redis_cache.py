"""`Cache` on Redis: shared by every API and worker process."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tessera.shared.application.ports import Counter
from tessera.shared.domain.errors import DependencyUnavailable

T = TypeVar("T")

# INCRBY and the first window's PEXPIRE in one step, so no key is left without expiry.
_INCREMENT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {value, redis.call('PTTL', KEYS[1])}
"""


class RedisCache:
    def __init__(self, client: Redis, *, prefix: str = "") -> None:
        self._redis = client
        self._prefix = prefix
        self._increment = client.register_script(_INCREMENT)

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._call(self._redis.get, self._key(key)))

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        await self._call(self._redis.set, self._key(key), value, px=_ms(ttl_seconds))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return cast(int, await self._call(self._redis.delete, *map(self._key, keys)))

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        reply = await self._call(
            self._increment, keys=[self._key(key)], args=[amount, _ms(window_seconds)]
        )
        value, pttl = cast(list[int], reply)
        return Counter(value=int(value), resets_in=max(int(pttl), 0) / 1000)

    async def ping(self) -> None:
        await self._call(self._redis.ping)

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async with translate_redis_errors():
            return await method(*args, **kwargs)


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), 1)


@asynccontextmanager
async def translate_redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise DependencyUnavailable(
            "The cache is unavailable.", details={"module": "cache"}
        ) from exc
