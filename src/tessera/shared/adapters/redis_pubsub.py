"""`PubSub` on Redis: one shared connection per process, fanned out to local subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.exceptions import RedisClusterException

from tessera.shared.adapters.outages import REDIS_DOWN
from tessera.shared.adapters.pubsub_fanout import Fanout, LocalSubscription
from tessera.shared.adapters.redis_client import RedisClient
from tessera.shared.domain.errors import DependencyUnavailable

logger = logging.getLogger("tessera.pubsub")

_REDIS_DOWN = (*REDIS_DOWN, OSError)


class RedisPubSub:
    """Every local subscription shares ONE Redis pub/sub connection and one reader task.

    Redis is subscribed to exactly the channels some local subscription wants: `_sync`
    compares them with what Redis was told and sends the difference, one command at a time
    (under a lock), then waits for Redis to confirm the channels its caller asked about, so
    a message published after `add` returns is received. Confirmations come back in command
    order, so each channel keeps a queue of futures the reader resolves. If the connection
    drops, the reader logs it, drops the connection and resubscribes on a new one, backing
    off exponentially; messages published meanwhile are lost (delivery is at most once).

    Behind a Sentinel the new connection goes to the primary the sentinels name then. On a
    cluster the subscription lives on one node and a plain PUBLISH on any node reaches it:
    Redis Cluster forwards every published message to all nodes.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        queue_size: int = 1000,
        confirm_timeout: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}pubsub:"
        self._fanout = Fanout(queue_size=queue_size, changed=self._sync, dropped=self._resync_soon)
        self._confirm_timeout = confirm_timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._connection: RedisPubSubConnection | None = None
        self._subscribed: set[str] = set()
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def publish(self, channel: str, message: bytes) -> None:
        self._fanout.loop.check()
        try:
            await self._client.publish(self._name(channel), message)
        except _REDIS_DOWN as error:
            raise _unavailable() from error

    def subscribe(self, *channels: str) -> LocalSubscription:
        return self._fanout.subscribe(channels)

    @property
    def connection_count(self) -> int:
        """Redis connections held for subscriptions: 0 or 1, however many subscribers."""
        return int(self._connection is not None)

    async def aclose(self) -> None:
        """Stop the reader, end every subscription's iteration and release the connection."""
        self._closed = True
        self._fanout.close()
        tasks = [*self._tasks, *([self._reader] if self._reader is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close_quietly(connection)

    async def _sync(self, wait_for: Collection[str]) -> None:
        """Make Redis's subscriptions match the wanted channels; wait for `wait_for`'s."""
        async with self._lock:
            if self._closed:
                return
            wanted = self._fanout.channels()
            subscribe = sorted(wanted - self._subscribed)
            unsubscribe = sorted(self._subscribed - wanted)
            if self._connection is None:
                if not subscribe:
                    return
                self._connection = await self._new_connection()
            connection = self._connection
            try:
                if subscribe:
                    self._expect(subscribe)
                    await connection.subscribe(*map(self._name, subscribe))
                if unsubscribe:
                    self._expect(unsubscribe)
                    await connection.unsubscribe(*map(self._name, unsubscribe))
            except _REDIS_DOWN as error:
                self._drop(connection)
                raise _unavailable() from error
            self._subscribed = wanted
            self._start_reader()
            pending = [self._confirmations[c][-1] for c in wait_for if self._confirmations.get(c)]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._confirm_timeout)
            if late:
                raise _unavailable()

    async def _new_connection(self) -> RedisPubSubConnection:
        if isinstance(self._client, RedisCluster):
            try:
                await self._client.initialize()  # its pub/sub reads the layout, never loads it
            except (*_REDIS_DOWN, RedisClusterException) as error:  # the latter: no node
                raise _unavailable() from error
        return self._client.pubsub()

    def _expect(self, channels: Collection[str]) -> None:
        loop = asyncio.get_running_loop()
        for channel in channels:
            self._confirmations.setdefault(channel, deque()).append(loop.create_future())

    def _start_reader(self) -> None:
        self._wake.set()
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-pubsub-reader")

    async def _read(self) -> None:
        delay = self._min_backoff
        while not self._closed:
            connection = self._connection
            if connection is None:
                if not self._fanout.channels():
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                try:
                    await self._sync(())
                except DependencyUnavailable:
                    logger.warning("Redis pub/sub: reconnect failed, retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_backoff)
                else:
                    logger.info("Redis pub/sub: reconnected and resubscribed")
                continue
            try:
                message = await connection.get_message(timeout=1.0)
            except _REDIS_DOWN:
                logger.warning(
                    "Redis pub/sub: connection lost, reconnecting in %.1fs", delay, exc_info=True
                )
                self._drop(connection)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            delay = self._min_backoff
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        name = message["channel"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        channel = name.removeprefix(self._prefix)
        kind = message["type"]
        if kind == "message":
            self._fanout.deliver(channel, message["data"])
        elif kind in ("subscribe", "unsubscribe"):
            pending = self._confirmations.get(channel)
            if pending:
                _resolve(pending.popleft())
                if not pending:
                    del self._confirmations[channel]

    def _drop(self, connection: RedisPubSubConnection | None) -> None:
        """Forget a broken (or closing) connection: Redis holds no subscription for us now."""
        if connection is None or connection is not self._connection:
            return
        self._connection = None
        self._subscribed = set()
        for pending in self._confirmations.values():
            for future in pending:
                _resolve(future)
        self._confirmations.clear()
        self._spawn(_close_quietly(connection))

    def _resync_soon(self) -> None:
        """A subscription overflowed (inside the reader): unsubscribe its channels later."""
        self._spawn(self._sync_quietly())

    async def _sync_quietly(self) -> None:
        with contextlib.suppress(DependencyUnavailable):
            await self._sync(())

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _name(self, channel: str) -> str:
        return f"{self._prefix}{channel}"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _unavailable() -> DependencyUnavailable:
    return DependencyUnavailable("Pub/sub is unavailable.", details={"module": "pubsub"})


async def _close_quietly(connection: RedisPubSubConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.aclose()  # type: ignore[no-untyped-call]
