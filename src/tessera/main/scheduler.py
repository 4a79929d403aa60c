"""`tessera scheduler`: sends the periodic jobs (outbox sweep, clean-ups) on time.

Run two or more: they share a lease in Redis, one leads and sends, the others wait to take
over (`ScheduleLeader`). The schedules are the `schedule` labels of the registered tasks;
the jobs themselves run on the workers of the `default` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from taskiq import AsyncBroker

from tessera.features.jobs.adapters.taskiq_schedules import ScheduleLeader
from tessera.main.ioc import make_container
from tessera.main.settings import Settings

logger = structlog.stdlib.get_logger("tessera.scheduler")


async def serve_scheduler(settings: Settings) -> None:
    container = make_container(settings)
    try:
        broker = await container.get(AsyncBroker)
        await broker.startup()
        task = asyncio.create_task((await container.get(ScheduleLeader)).run())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        logger.info("scheduler started")
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await container.close()  # shuts the broker down
    logger.info("scheduler stopped")


def run_scheduler(settings: Settings) -> None:
    asyncio.run(serve_scheduler(settings))
