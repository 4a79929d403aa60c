"""The `PubSub` port: fan short messages out to live subscribers in every process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self


class SubscriberTooSlow(Exception):
    """A subscription did not keep up: its queue overflowed and it was closed.

    Raised by the subscription's iteration instead of silently dropping messages; the
    consumer should leave, resubscribe and resynchronise (e.g. close the WebSocket).
    """


class Subscription(Protocol):
    """`async with pubsub.subscribe("user.1") as sub:` then `async for channel, message in sub`.

    Leaving the context unsubscribes from every channel and frees the queue.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def add(self, *channels: str) -> None:
        """Also receive these channels' messages from now on."""
        ...

    async def remove(self, *channels: str) -> None:
        """Stop receiving these channels' messages (not yet read ones stay queued)."""
        ...

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        """`(channel, message)` pairs; raises `SubscriberTooSlow` after an overflow, and
        ends when the pub/sub itself is closed."""
        ...


class PubSub(Protocol):
    """Messages to every subscription of a channel, in every process (Redis), or in this one.

    Delivery is at most once, to the subscriptions that exist when the message is published,
    in publishing order per channel; nothing is stored for subscribers that come later.
    Each subscription has a bounded queue, so a slow one never holds up publishers or other
    subscribers: on overflow it alone is closed with `SubscriberTooSlow`. Channels are plain
    strings (`user.<id>`, `tenant.<id>`, `global`); adapters may add a deployment prefix.
    """

    async def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to the channel's current subscribers; raises
        `DependencyUnavailable` when the broker is down."""
        ...

    def subscribe(self, *channels: str) -> Subscription:
        """A subscription to `channels`, active once its context is entered."""
        ...

    async def aclose(self) -> None:
        """Stop: every subscription's iteration ends (the process is stopping); closing
        twice is harmless."""
        ...
