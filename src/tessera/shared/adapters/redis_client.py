from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

REDIS_TIMEOUT_SECONDS = 5.0
"""How long a command (or a batch of them) may wait for Redis before it counts as down."""


def reconnect_once() -> Retry:
    """A command that finds its pooled connection dead is sent once more on a new one.

    After Redis restarts every pooled connection is dead, and a pool built from a URL
    retries nothing, so without this each would fail one command before being replaced.
    Only connection errors are retried, at once: a timeout is not made twice as long, and a
    Redis that stays down answers the caller within one more connect attempt.
    """
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


def connect_redis(
    url: str, *, max_connections: int = 64, socket_timeout: float | None = REDIS_TIMEOUT_SECONDS
) -> Redis:
    """A client whose pool waits for a free connection instead of failing under bursts.

    Nothing connects until the first command; timeouts keep a dead Redis from hanging
    requests (they become `DependencyUnavailable` in the adapters). The command batcher's
    client has no socket timeout (`socket_timeout=None`): the batcher bounds each batch
    itself, once, instead of redis-py bounding every write and reply.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        retry=reconnect_once(),
    )
    return Redis(connection_pool=pool)
