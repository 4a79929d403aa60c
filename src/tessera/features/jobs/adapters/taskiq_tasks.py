"""The taskiq tasks: thin entry points that take their use case from dishka."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec
from dishka.integrations.taskiq import FromDishka, inject
from taskiq import AsyncBroker

from tessera.features.backups.application.nightly_backup import NightlyBackup
from tessera.features.jobs.application.relay_outbox import RelayOutbox
from tessera.features.jobs.application.run_housekeeping import RunHousekeeping
from tessera.features.jobs.application.run_job import RunJob
from tessera.features.jobs.domain.job import Job
from tessera.shared.adapters.outages import OUTAGES

T = TypeVar("T")
logger = logging.getLogger("tessera.jobs")
DEFERRED = "deferred"

RUN_JOB = "tessera.run_job"
SWEEP_OUTBOX = "tessera.sweep_outbox"
HOUSEKEEPING = "tessera.housekeeping"
BACKUP = "tessera.backup"
BACKUP_CRON = "0 3 * * *"  # 03:00 UTC, nightly


async def unless_down(work: Awaitable[T]) -> T | str:
    """The task's result, or `deferred` when a database or Redis it needs is down or
    saturated: the job stays due in the job store, which hands it out again once its lease
    ends, and the outage is logged once for the process, not as a traceback per attempt."""
    try:
        result = await work
    except Exception as error:
        if OUTAGES.report(error) is None:
            raise
        return DEFERRED
    OUTAGES.recovered("database")
    return result


@inject(patch_module=True)
async def run_job(job: dict[str, Any], runner: FromDishka[RunJob]) -> str:
    return await unless_down(runner.execute(msgspec.convert(job, Job)))


@inject(patch_module=True)
async def sweep_outbox(relay: FromDishka[RelayOutbox]) -> int | str:
    handed = await unless_down(relay.execute())
    if isinstance(handed, int) and handed:  # a sweep that found nothing says nothing
        logger.info("outbox sweep: jobs handed to the queue", extra={"jobs": handed})
    return handed


@inject(patch_module=True)
async def housekeeping(chores: FromDishka[RunHousekeeping]) -> dict[str, int] | str:
    return await unless_down(chores.execute())


@inject(patch_module=True)
async def backup(nightly: FromDishka[NightlyBackup]) -> dict[str, Any]:
    return msgspec.to_builtins(await nightly.execute())  # type: ignore[no-any-return]


def register_tasks(broker: AsyncBroker, *, sweep_seconds: int) -> None:
    """Every process registers the same tasks, so any of them can send or run them."""
    broker.register_task(run_job, task_name=RUN_JOB)
    broker.register_task(
        sweep_outbox, task_name=SWEEP_OUTBOX, schedule=[{"interval": sweep_seconds}]
    )
    broker.register_task(housekeeping, task_name=HOUSEKEEPING, schedule=[{"cron": "17 * * * *"}])
    broker.register_task(backup, task_name=BACKUP, schedule=[{"cron": BACKUP_CRON}])
