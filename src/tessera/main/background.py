"""Embedded mode: the API process also runs the jobs and their schedules."""

from __future__ import annotations

import asyncio
import contextlib

from dishka import AsyncContainer
from taskiq import AsyncBroker

from tessera.main.scheduler import run_schedules


class EmbeddedBackground:
    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._schedules: asyncio.Task[None] | None = None

    async def start(self) -> None:
        broker = await self._container.get(AsyncBroker)
        self._schedules = asyncio.create_task(run_schedules(broker))

    async def stop(self) -> None:
        if self._schedules is not None:
            self._schedules.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedules
