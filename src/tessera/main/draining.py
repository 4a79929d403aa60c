"""Closing the WebSockets cleanly when the server stops (see `main.server.DrainingGranian`).

On `DRAIN_SIGNAL` the worker closes its pub/sub: every notification socket then ends its
conversation with 1001 "going away", so clients reconnect (to another replica) at once
instead of seeing an abnormal closure. Requests in flight are untouched.
"""

from __future__ import annotations

import asyncio
import logging

from dishka import AsyncContainer

from tessera.main.server import DRAIN_SIGNAL
from tessera.shared.application.pubsub import PubSub

logger = logging.getLogger("tessera")


class SocketsDrain:
    """Startup hook: listen for `DRAIN_SIGNAL` in this worker's event loop."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._closing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(DRAIN_SIGNAL, self._drain)
        except (RuntimeError, ValueError, NotImplementedError):
            return  # not the main thread (in-process test clients): no server signals it

    def _drain(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        logger.info("stopping: closing the WebSockets (1001)")
        pubsub: PubSub = await self._container.get(PubSub)
        await pubsub.aclose()
