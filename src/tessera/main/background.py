"""Embedded mode: the API process also runs the jobs and their schedules."""

from __future__ import annotations

import asyncio
import contextlib

from dishka import AsyncContainer

from tessera.features.jobs.adapters.taskiq_schedules import ScheduleLeader


class EmbeddedBackground:
    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._schedules: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The broker is started by its provider; the lease is in memory, so this process
        leads at once."""
        leader = await self._container.get(ScheduleLeader)
        self._schedules = asyncio.create_task(leader.run())

    async def stop(self) -> None:
        if self._schedules is not None:
            self._schedules.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedules
