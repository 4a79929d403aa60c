"""`tessera scheduler`: sends the periodic jobs (outbox sweep, clean-ups) on time.

Run exactly one. The schedules are the `schedule` labels of the registered tasks; the
jobs themselves run on the workers of the `default` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

import structlog
from taskiq import AsyncBroker, TaskiqScheduler
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.schedule_sources import LabelScheduleSource

from tessera.features.jobs.ioc import redis_broker
from tessera.main.settings import Settings

logger = structlog.stdlib.get_logger("tessera.scheduler")


async def run_schedules(broker: AsyncBroker) -> None:
    """Kick each labelled task when due, until cancelled (also used in embedded mode)."""
    source = LabelScheduleSource(broker)
    scheduler = TaskiqScheduler(broker=broker, sources=[source])
    await source.startup()
    loop = SchedulerLoop(scheduler, event_loop=asyncio.get_running_loop())
    await loop.run(update_interval=timedelta(minutes=10), send_timeout=10)


async def serve_scheduler(settings: Settings) -> None:
    broker = redis_broker(settings)
    broker.is_scheduler_process = True
    await broker.startup()
    task = asyncio.create_task(run_schedules(broker))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    logger.info("scheduler started")
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await broker.shutdown()
    logger.info("scheduler stopped")


def run_scheduler(settings: Settings) -> None:
    asyncio.run(serve_scheduler(settings))
