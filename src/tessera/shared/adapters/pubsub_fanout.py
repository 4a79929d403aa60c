"""Local fan-out shared by the pub/sub adapters: channel -> subscriptions, bounded queues."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Self

from tessera.shared.application.event_loop import OneLoop
from tessera.shared.application.pubsub import SubscriberTooSlow
from tessera.shared.domain.errors import DependencyUnavailable

Changed = Callable[[Collection[str]], Awaitable[None]]
"""Told, after the set of wanted channels changed, which ones to wait for (the Redis
adapter subscribes and unsubscribes there); may raise to refuse an `add`."""


class Fanout:
    """Which local subscriptions want which channel; delivers without awaiting anything."""

    def __init__(
        self,
        *,
        queue_size: int,
        changed: Changed | None = None,
        dropped: Callable[[], None] | None = None,
    ) -> None:
        self._queue_size = queue_size
        self._changed = changed
        self._dropped = dropped
        self._subscribers: dict[str, set[LocalSubscription]] = {}
        self._all: set[LocalSubscription] = set()
        self.loop = OneLoop("The pub/sub")  # a delivery wakes subscribers waiting on it

    def subscribe(self, channels: Collection[str]) -> LocalSubscription:
        return LocalSubscription(self, channels, self._queue_size)

    def channels(self) -> set[str]:
        return set(self._subscribers)

    def deliver(self, channel: str, message: bytes) -> None:
        self.loop.check()
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.push(channel, message)

    def close(self) -> None:
        """End every subscription's iteration (the adapter is shutting down)."""
        for subscription in list(self._all):
            subscription.end()
        self._subscribers.clear()

    async def attach(self, subscription: LocalSubscription, channels: Collection[str]) -> None:
        self.loop.check()
        self._all.add(subscription)
        for channel in channels:
            self._subscribers.setdefault(channel, set()).add(subscription)
        if self._changed is not None:
            await self._changed(channels)

    async def detach(self, subscription: LocalSubscription, channels: Collection[str]) -> None:
        self.forget(subscription, channels)
        if self._changed is not None:
            await self._changed(channels)

    def forget(self, subscription: LocalSubscription, channels: Collection[str]) -> None:
        for channel in channels:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[channel]
        if not subscription.channels:
            self._all.discard(subscription)

    def overflowed(self, subscription: LocalSubscription, channels: Collection[str]) -> None:
        self.forget(subscription, channels)
        self._all.discard(subscription)
        if self._dropped is not None:
            self._dropped()


class LocalSubscription:
    """One subscriber's channels and bounded queue; the `Subscription` of both adapters."""

    def __init__(self, fanout: Fanout, channels: Collection[str], queue_size: int) -> None:
        self._fanout = fanout
        self._initial = tuple(channels)
        self._limit = queue_size
        self._queue: deque[tuple[str, bytes]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: SubscriberTooSlow | None = None
        self._ended = False
        self.channels: set[str] = set()

    async def __aenter__(self) -> Self:
        await self.add(*self._initial)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        channels, self.channels = self.channels, set()
        self._ended = True
        self._queue.clear()
        # freed here whatever happens; a broker that is down is resynchronised on reconnect
        with contextlib.suppress(DependencyUnavailable):
            await self._fanout.detach(self, channels)

    async def add(self, *channels: str) -> None:
        if self._error is not None:
            raise self._error
        new = set(channels) - self.channels
        self.channels |= new
        try:
            await self._fanout.attach(self, new)
        except BaseException:
            self.channels -= new
            self._fanout.forget(self, new)
            raise

    async def remove(self, *channels: str) -> None:
        gone = set(channels) & self.channels
        self.channels -= gone
        await self._fanout.detach(self, gone)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            if self._ended:
                raise StopAsyncIteration
            self._waiter = self._fanout.loop.check().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def push(self, channel: str, message: bytes) -> None:
        if len(self._queue) >= self._limit:
            self._overflow()
            return
        self._queue.append((channel, message))
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def _overflow(self) -> None:
        self._error = SubscriberTooSlow(
            f"The subscriber fell {self._limit} messages behind and was unsubscribed."
        )
        self._queue.clear()
        channels, self.channels = self.channels, set()
        self._fanout.overflowed(self, channels)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
