from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


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
    )
    return Redis(connection_pool=pool)
