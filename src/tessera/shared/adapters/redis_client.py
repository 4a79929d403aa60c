from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def reconnect_once() -> Retry:
    """A command that finds its pooled connection dead is sent once more on a new one.

    After Redis restarts every pooled connection is dead, and a pool built from a URL
    retries nothing, so without this each would fail one command before being replaced.
    Only connection errors are retried, at once: a timeout is not made twice as long, and a
    Redis that stays down answers the caller within one more connect attempt.
    """
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


def connect_redis(url: str, *, max_connections: int = 64) -> Redis:
    """A client whose pool waits for a free connection instead of failing under bursts.

    Nothing connects until the first command; timeouts keep a dead Redis from hanging
    requests (they become `DependencyUnavailable` in the adapters).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=reconnect_once(),
    )
    return Redis(connection_pool=pool)
