"""Connection pool gauges: how many database and Redis connections each worker holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Gauge
from redis.observability.attributes import DB_CLIENT_CONNECTION_STATE, ConnectionState

REFRESH_SECONDS = 5.0
"""How often each worker writes its pool gauges (the scraped one also does on each scrape)."""

# livesum: the sum over the living workers (a dead worker's connections are gone too).
_DB_POOL = Gauge(
    "db_pool_connections",
    "Database connections, by state.",
    ["state"],
    multiprocess_mode="livesum",
)
_REDIS_POOL = Gauge(
    "redis_pool_connections",
    "Redis client connections, by state.",
    ["state"],
    multiprocess_mode="livesum",
)

PoolReading = Callable[[], dict[str, int]]


class PoolGauges:
    """Connection pool gauges, read from the pools when `update` is called (each scrape,
    and periodically in every worker so the multiprocess sum stays current)."""

    def __init__(self, database: PoolReading, redis: PoolReading | None) -> None:
        self._database, self._redis = database, redis

    def update(self) -> None:
        for state, count in self._database().items():
            _DB_POOL.labels(state).set(count)
        if self._redis is not None:
            for state, count in self._redis().items():
                _REDIS_POOL.labels(state).set(count)


def sqlalchemy_pool_reading(pool: Any) -> PoolReading:
    """`checked_out` and `idle` of a SQLAlchemy pool; zeros for pools that keep no
    count (SQLite's)."""

    def read() -> dict[str, int]:
        checked_out = getattr(pool, "checkedout", None)
        idle = getattr(pool, "checkedin", None)
        return {
            "checked_out": int(checked_out()) if callable(checked_out) else 0,
            "idle": int(idle()) if callable(idle) else 0,
        }

    return read


def redis_pool_reading(*pools: Any) -> PoolReading:
    """`in_use` and `idle` connections of redis-py connection pools, summed (the client's
    and the command batcher's), from their public `get_connection_count`."""
    names = {ConnectionState.USED.value: "in_use", ConnectionState.IDLE.value: "idle"}

    def read() -> dict[str, int]:
        counts = dict.fromkeys(names.values(), 0)
        for pool in pools:
            for count, attributes in pool.get_connection_count():
                counts[names[attributes[DB_CLIENT_CONNECTION_STATE]]] += count
        return counts

    return read


class PoolGaugesRefresher:
    """Keeps this worker's pool gauges current while the app runs (startup/shutdown hooks);
    a worker starting also drops the gauges of workers that died."""

    def __init__(
        self, gauges: Callable[[], Awaitable[PoolGauges]], forget_dead: Callable[[], None]
    ) -> None:
        self._gauges, self._forget_dead = gauges, forget_dead
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._forget_dead()
        gauges = await self._gauges()
        self._task = asyncio.create_task(self._refresh(gauges), name="pool-gauges")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @staticmethod
    async def _refresh(gauges: PoolGauges) -> None:
        while True:
            gauges.update()
            await asyncio.sleep(REFRESH_SECONDS)
