"""Hands just-committed events to the queue without making the request wait for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import structlog
from dishka import AsyncContainer

from tessera.features.jobs.application.relay_outbox import RelayOutbox
from tessera.shared.adapters.outages import OUTAGES

logger = structlog.stdlib.get_logger("tessera.jobs")


class BackgroundRelay:
    """`OutboxListener`: relays in a task of its own, in a scope of its own.

    A failure here only delays the events: they stay due in the outbox for the sweep.
    """

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._tasks: set[asyncio.Task[None]] = set()

    def committed(self, event_ids: Sequence[uuid.UUID]) -> None:
        task = asyncio.get_running_loop().create_task(self._relay(list(event_ids)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the relays in flight (at shutdown)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _relay(self, event_ids: list[uuid.UUID]) -> None:
        try:
            async with self._container() as scope:
                relay = await scope.get(RelayOutbox)
                await relay.execute(event_ids)
        except Exception as error:  # logged; the sweep hands the events over later
            if OUTAGES.report(error) is None:
                logger.exception("relaying committed events failed", events=len(event_ids))
