"""The one way Tessera makes a Redis client, whatever the topology: a server, the primary a
Sentinel names, or a Cluster (`RedisTopology`)."""

from __future__ import annotations

from typing import Any, overload

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.typing import EncodableT

from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    RedisTopology,
    SentinelTopology,
    SingleTopology,
)

REDIS_TIMEOUT_SECONDS = 5.0
"""How long a command (or a batch of them) may wait for Redis before it counts as down."""
CONNECT_TIMEOUT_SECONDS = 2.0
POOL_TIMEOUT_SECONDS = 5.0
"""How long a command waits for a free connection of a full pool."""

RedisClient = Redis | RedisCluster


class LaidOutCluster(RedisCluster):
    """redis-py's cluster client, made to read the cluster's layout before any command and
    to report a layout it cannot read as the cluster being down.

    A fresh client's concurrent first commands each ask a node about the command before the
    layout is read, on connections that reading it then closes: some fail with
    `AttributeError` or "Connection closed by server". Reading it first (once, under the
    client's own lock; at once when it is known) avoids that. A layout that cannot be read
    (no node answers, or not every slot has a node, as when a primary without a replica is
    gone) raises a bare `RedisClusterException`, the class redis-py also uses for misuse;
    here it becomes `ClusterDownError`, which callers treat as Redis being unavailable.
    """

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> RedisCluster:
        try:
            return await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as error:
            raise ClusterDownError(str(error)) from error

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)


def reconnect_once() -> Retry:
    """A command that finds its pooled connection dead is sent once more on a new one.

    After Redis restarts every pooled connection is dead, and a pool built from a URL
    retries nothing, so without this each would fail one command before being replaced.
    Only connection errors are retried, at once: a timeout is not made twice as long, and a
    Redis that stays down answers the caller within one more connect attempt. Behind a
    Sentinel the new connection asks the sentinels where the primary is now.
    """
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool, which connects to the primary the sentinels name (and drops
    a connection whose server answers READONLY, as a demoted primary does), made to wait for
    a free connection when full as `BlockingConnectionPool` does instead of failing."""


class SentinelPrimary(Redis):
    """A client of the primary a Sentinel names; closing it also closes its connections to
    the sentinels (redis-py leaves those to the `Sentinel` object, made here per client)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


@overload
def connect_redis(
    where: str | SingleTopology | SentinelTopology,
    *,
    max_connections: int = ...,
    socket_timeout: float | None = ...,
) -> Redis: ...
@overload
def connect_redis(
    where: ClusterTopology, *, max_connections: int = ..., socket_timeout: float | None = ...
) -> RedisCluster: ...
@overload
def connect_redis(
    where: RedisTopology, *, max_connections: int = ..., socket_timeout: float | None = ...
) -> RedisClient: ...
def connect_redis(
    where: str | RedisTopology,
    *,
    max_connections: int = 64,
    socket_timeout: float | None = REDIS_TIMEOUT_SECONDS,
) -> RedisClient:
    """A client of `where` (a URL is a single server) that nothing connects until its first
    command; `aclose()` closes it and its connections.

    Timeouts keep a dead Redis from hanging requests (they become `DependencyUnavailable`
    in the adapters). The pool of a server or of a Sentinel's primary waits for a free
    connection instead of failing under bursts; a cluster client keeps `max_connections`
    per node and fails beyond them (redis-py's async cluster client has no waiting pool).
    The command batcher's client has no socket timeout (`socket_timeout=None`): the batcher
    bounds each batch itself, once, instead of redis-py bounding every write and reply.
    """
    topology = SingleTopology(where) if isinstance(where, str) else where
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
        "retry": reconnect_once(),
    }
    if isinstance(topology, ClusterTopology):
        # The cluster client retries a failed command itself, once the topology is read
        # again; its retry's count is all it takes from `retry`.
        return LaidOutCluster.from_url(topology.url, max_connections=max_connections, **options)
    pooling = {"max_connections": max_connections, "timeout": POOL_TIMEOUT_SECONDS}
    if isinstance(topology, SentinelTopology):
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(topology.sentinels),
            sentinel_kwargs={
                "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,  # asking where the primary is
                **topology.sentinel_options(),
            },
        )
        client: Redis = sentinel.master_for(
            topology.service,
            redis_class=SentinelPrimary,
            connection_pool_class=BlockingSentinelConnectionPool,
            **pooling,
            **options,
            **topology.primary_options(),
        )
        return client
    pool = BlockingConnectionPool.from_url(topology.url, **pooling, **options)
    return Redis.from_pool(pool)
