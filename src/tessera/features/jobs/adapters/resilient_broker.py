"""taskiq-redis's stream broker, made to outlive a Redis restart.

`RedisStreamBroker.listen` ends with the first connection error, and taskiq's receiver ends
with it, so a worker whose Redis restarts would exit. Here the listener waits instead: it
reports the outage once, retries with capped, jittered backoff, joins the consumer group
again (a Redis restarted without its data has lost the stream and the group) and goes on
reading. Messages delivered but not acknowledged stay pending in the group and are handed
out again after QUEUE_REDELIVERY_SECONDS; the job store's lease keeps a job from running
twice meanwhile, and the outbox sweep re-sends whatever a Redis without its data forgot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, BrokerMessage
from taskiq_redis import RedisStreamBroker

from tessera.shared.adapters.outages import OUTAGES, REDIS_DOWN, Backoff

QUEUE_CONNECTED = Gauge(
    "queue_connected", "1 while this worker reads the queue's stream, 0 while Redis is away.",
    ["queue"],
)  # fmt: skip


class ResilientStreamBroker(RedisStreamBroker):
    """`RedisStreamBroker` whose `listen` survives Redis going away and coming back.

    A send that finds Redis down reports the outage and raises, so the caller can keep the
    job for later (the scheduler sends that occurrence no more; the next follows).
    """

    async def startup(self) -> None:
        """Starts even while Redis is down: the listener joins the group once it answers."""
        try:
            await super().startup()  # the broker's own start, then the consumer group
        except REDIS_DOWN as error:
            self._report(error)

    async def kick(self, message: BrokerMessage) -> None:
        try:
            await super().kick(message)
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
                async for message in super().listen():
                    yield AckableMessage(data=message.data, ack=self._tolerant(message.ack))
            except ResponseError as error:
                if not str(error).startswith("NOGROUP"):
                    raise
                continue  # Redis came back empty: join the group again, at once
            except REDIS_DOWN as error:
                self._report(error)
                # Connections that were open when Redis went away are dead: drop them all,
                # so the first commands after its return do not find them one by one.
                await self.connection_pool.disconnect()
                await asyncio.sleep(backoff.next_delay())

    def _tolerant(self, ack: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None]]:
        """An acknowledgement that Redis is not there to take is left out: the message stays
        pending, comes back after QUEUE_REDELIVERY_SECONDS, and the job store skips it as done.
        """

        async def acknowledge() -> None:
            try:
                done = ack()
                if done is not None:
                    await done
            except REDIS_DOWN as error:
                self._report(error)

        return acknowledge

    async def _join_group(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
                )
            except ResponseError as error:
                if not str(error).startswith("BUSYGROUP"):  # it exists: the usual case
                    raise

    def _report(self, error: BaseException) -> None:
        QUEUE_CONNECTED.labels(self.queue_name).set(0)
        OUTAGES.report(error, queue=self.queue_name)
