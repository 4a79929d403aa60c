"""taskiq-redis's stream brokers, made to outlive a Redis restart or failover.

`stream_broker` picks the broker of the topology: taskiq-redis's `RedisStreamBroker` on one
server, `RedisStreamSentinelBroker` behind a Sentinel, `RedisStreamClusterBroker` on a
Cluster. They send (`kick`) and make the consumer group; reading is done here.

Their `listen` ends with the first connection error, and taskiq's receiver ends with it, so
a worker whose Redis restarts would exit. Here the listener waits instead: it reports the
outage once, retries with capped, jittered backoff, joins the consumer group again (a Redis
restarted without its data has lost the stream and the group) and goes on reading.
Messages delivered but not acknowledged stay pending in the group and are handed out again
after QUEUE_REDELIVERY_SECONDS; the job store's lease keeps a job from running twice
meanwhile, and the outbox sweep re-sends whatever a Redis without its data forgot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, BrokerMessage
from taskiq_redis import RedisStreamBroker, RedisStreamClusterBroker, RedisStreamSentinelBroker

from tessera.shared.adapters.outages import OUTAGES, REDIS_DOWN, Backoff
from tessera.shared.adapters.redis_client import (
    CONNECT_TIMEOUT_SECONDS,
    RedisClient,
    connect_redis,
    reconnect_once,
)
from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    RedisTopology,
    SentinelTopology,
)

QUEUE_CONNECTED = Gauge(
    "queue_connected",
    "1 while this worker reads the queue's stream, 0 while Redis is away.",
    ["queue"],
)
READ_BLOCK_MS = 1000
"""How long one read waits for a message (a worker stopping waits for it to end)."""
READ_COUNT = 100
"""Messages taken per read, new or claimed."""
_Entries = list[tuple[bytes, dict[bytes, bytes]]]


class _Resilient(AsyncBroker):
    """What every topology's broker gets here: a `listen` that survives Redis going away
    and coming back, and that takes over messages other consumers left pending.

    `listen` reads with a long-lived client of its own (`_reader`): new messages
    (`XREADGROUP`), then, on every round, those another consumer has left unacknowledged for
    the redelivery time (`XAUTOCLAIM`). taskiq-redis's own `listen` claims only after new
    messages arrive (`RedisStreamBroker`), or never (its Sentinel and Cluster brokers), so a
    quiet queue would keep a dead worker's message forever.

    The reader has no socket timeout, as taskiq-redis's own clients: with one, redis-py
    bounds each write with `asyncio.wait_for`, which on Python 3.11 may swallow the
    cancellation that stops a worker (when it lands as the write completes).

    A send that finds Redis down reports the outage and raises, so the caller can keep the
    job for later (the scheduler sends that occurrence no more; the next follows).
    """

    queue_name: str
    consumer_group_name: str
    consumer_name: str
    consumer_id: str
    _reader: RedisClient
    _redelivery_ms: int

    async def startup(self) -> None:
        """Starts even while Redis is down: the listener joins the group once it answers."""
        try:
            await super().startup()  # the broker's own start, then the consumer group
        except REDIS_DOWN as error:
            self._report(error)

    async def kick(self, message: BrokerMessage) -> None:
        try:
            await super().kick(message)  # type: ignore[safe-super]  # the topology's broker
        except REDIS_DOWN as error:
            self._report(error)
            raise
        else:
            OUTAGES.recovered("redis")

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        backoff = Backoff(first=0.1, cap=2.0)  # a connect attempt costs Redis next to nothing
        while True:
            try:
                await self._join_group()
                QUEUE_CONNECTED.labels(self.queue_name).set(1)
                OUTAGES.recovered("redis")
                backoff.reset()
                async for message in self._messages():
                    yield message
            except ResponseError as error:
                if not str(error).startswith("NOGROUP"):
                    raise
                continue  # Redis came back empty: join the group again, at once
            except REDIS_DOWN as error:
                self._report(error)
                # Connections that were open when Redis went away are dead: drop them all,
                # so the first commands after its return do not find them one by one.
                await self._forget_connections()
                await asyncio.sleep(backoff.next_delay())

    async def shutdown(self) -> None:
        await super().shutdown()
        await self._reader.aclose()

    async def _messages(self) -> AsyncIterator[AckableMessage]:
        redis, stream, group = self._reader, self.queue_name, self.consumer_group_name
        while True:
            fetched = await redis.xreadgroup(
                group, self.consumer_name, {stream: ">"}, block=READ_BLOCK_MS, count=READ_COUNT
            )
            for _, messages in cast(list[tuple[bytes, _Entries]], fetched or []):
                for message_id, fields in messages:
                    yield self._ackable(message_id, fields)
            claimed = await redis.xautoclaim(
                stream, group, self.consumer_name, self._redelivery_ms, count=READ_COUNT
            )
            for message_id, fields in claimed[1]:
                if fields is not None:  # None: deleted from the stream meanwhile
                    yield self._ackable(message_id, fields)

    def _ackable(self, message_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        """An acknowledgement that Redis is not there to take is left out: the message stays
        pending, comes back after QUEUE_REDELIVERY_SECONDS, and the job store skips it as done.
        """

        async def acknowledge() -> None:
            try:
                await self._reader.xack(self.queue_name, self.consumer_group_name, message_id)
            except REDIS_DOWN as error:
                self._report(error)

        return AckableMessage(data=fields[b"data"], ack=acknowledge)

    async def _join_group(self) -> None:
        try:
            await self._reader.xgroup_create(
                self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
            )
        except ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):  # it exists: the usual case
                raise

    async def _forget_connections(self) -> None:
        reader = self._reader
        if isinstance(reader, Redis):
            await reader.connection_pool.disconnect()
        else:
            await reader.aclose()  # a cluster client reads the topology again when next used

    def _report(self, error: BaseException) -> None:
        QUEUE_CONNECTED.labels(self.queue_name).set(0)
        OUTAGES.report(error, queue=self.queue_name)


class ResilientStreamBroker(_Resilient, RedisStreamBroker):
    """One Redis server: sends and reads share the broker's pool."""

    def __init__(self, url: str, *, redelivery_ms: int, **options: Any) -> None:
        super().__init__(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=reconnect_once(),
            **options,
        )
        self._reader = Redis(connection_pool=self.connection_pool)  # closing it keeps the pool
        self._redelivery_ms = redelivery_ms


class _SentinelSendsOnOneClient(RedisStreamSentinelBroker):
    """taskiq-redis's Sentinel stream broker sends each message through a client made for
    it: one question to the sentinels and one new connection to the primary per job
    (1.1-1.4 ms a send against 0.07-0.1 ms on a kept connection, measured on one machine).
    Here sends go through the broker's long-lived client, as on one server, which asks the
    sentinels only when it opens a connection (after a failover, among others)."""

    _reader: RedisClient

    async def kick(self, message: BrokerMessage) -> None:
        await self._reader.xadd(
            message.labels.get("queue_name") or self.queue_name,
            {b"data": message.message},
            maxlen=self.maxlen,
            approximate=self.approximate,
        )


class ResilientSentinelStreamBroker(_Resilient, _SentinelSendsOnOneClient):
    """Behind a Sentinel: sends and reads share one client, which asks the sentinels for
    the primary whenever it opens a connection."""

    def __init__(self, topology: SentinelTopology, *, redelivery_ms: int, **options: Any):
        super().__init__(
            sentinels=list(topology.sentinels),
            master_name=topology.service,
            sentinel_kwargs={
                "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
                **topology.sentinel_options(),
            },
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=reconnect_once(),
            **topology.primary_options(),
            **options,
        )
        self._reader = connect_redis(topology, socket_timeout=None)  # see _Resilient
        self._redelivery_ms = redelivery_ms

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.sentinel.aclose()


class ResilientClusterStreamBroker(_Resilient, RedisStreamClusterBroker):
    """On a Cluster: the queue's stream lives on the node holding its key. Sends go through
    a client of `connect_redis` in place of taskiq-redis' own, so that they too read the
    cluster's layout before their first command (`LaidOutCluster`)."""

    def __init__(self, topology: ClusterTopology, *, redelivery_ms: int, **options: Any):
        super().__init__(topology.url, **options)  # its client is replaced before any use
        self.redis = connect_redis(topology, socket_timeout=None)
        self._reader = connect_redis(topology, socket_timeout=None)  # see _Resilient
        self._redelivery_ms = redelivery_ms


ResilientBroker = (
    ResilientStreamBroker | ResilientSentinelStreamBroker | ResilientClusterStreamBroker
)


def stream_broker(
    topology: RedisTopology, *, queue_name: str, consumer_group_name: str, redelivery_seconds: float
) -> ResilientBroker:
    """The broker reading (and sending to) the stream `queue_name` of `topology`.

    `consumer_id="0"`: a group made after messages were sent delivers them too.
    """
    redelivery_ms = int(redelivery_seconds * 1000)
    options: dict[str, Any] = {
        "queue_name": queue_name,
        "consumer_group_name": consumer_group_name,
        "consumer_id": "0",
        "xread_block": READ_BLOCK_MS,
    }
    if isinstance(topology, SentinelTopology):
        return ResilientSentinelStreamBroker(topology, redelivery_ms=redelivery_ms, **options)
    if isinstance(topology, ClusterTopology):
        return ResilientClusterStreamBroker(topology, redelivery_ms=redelivery_ms, **options)
    return ResilientStreamBroker(topology.url, redelivery_ms=redelivery_ms, **options)
