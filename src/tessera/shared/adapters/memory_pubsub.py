"""The embedded mode's pub/sub: one process, so delivery is a function call."""

from __future__ import annotations

from tessera.shared.adapters.pubsub_fanout import Fanout, LocalSubscription


class InMemoryPubSub:
    """Complete `PubSub` for one process: `publish` queues the message for every current
    subscription of the channel before it returns."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._fanout = Fanout(queue_size=queue_size)

    async def publish(self, channel: str, message: bytes) -> None:
        self._fanout.deliver(channel, message)

    def subscribe(self, *channels: str) -> LocalSubscription:
        return self._fanout.subscribe(channels)

    async def aclose(self) -> None:
        self._fanout.close()
