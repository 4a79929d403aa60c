"""The periodic jobs, sent once per occurrence however many schedulers run.

Every scheduler computes the same occurrences: an interval schedule's are the multiples of
its interval since the epoch, a cron schedule's the minutes it matches (UTC). One scheduler
leads by holding the `LeaderLease`; the others try to take it every tick. Each tick the
leader renews the lease, then sends every occurrence since its last tick, each only after
claiming it in the shared cache (the first to count an occurrence sends it), and records
how far it got. A new leader starts from that record, at most `CATCH_UP_LEASES` leases back,
so an occurrence its predecessor did not reach is sent late rather than skipped, and the
claims keep one it did send from going twice. A leader that could not renew within its
lease (paused, cut off) sends nothing more: by then the lease may be another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from taskiq import AsyncBroker, ScheduledTask, TaskiqScheduler
from taskiq.cli.scheduler.run import CronValueError, is_cron_task_now
from taskiq.schedule_sources import LabelScheduleSource

from tessera.features.jobs.application.ports import LeaderLease
from tessera.shared.adapters.outages import OUTAGES
from tessera.shared.application.ports import Cache, Clock

logger = structlog.stdlib.get_logger("tessera.scheduler")

TICKS_PER_LEASE = 10
CATCH_UP_LEASES = 2  # a failover takes at most a lease; two leave room to spare
SENT = "tessera:scheduler:sent"
REACHED = "tessera:scheduler:reached"
# Labels of each message sent: the occurrence it is for, and the scheduler that sent it.
SCHEDULED_FOR, SENT_BY = "scheduled_for", "sent_by"
MINUTE = timedelta(minutes=1)
MILLISECOND = timedelta(milliseconds=1)
EPOCH = datetime.fromtimestamp(0, UTC)


def tick_seconds(lease_seconds: float) -> float:
    """Followers try to take the lead, and the leader renews it, ten times a lease (at most
    every second)."""
    return min(1.0, lease_seconds / TICKS_PER_LEASE)


def held_seconds(lease_seconds: float) -> float:
    """How long the lease is taken for: a tick less than SCHEDULER_LEASE_SECONDS. The leader
    renews it every tick, so when it dies the lease runs out a tick less than that after,
    and a follower, trying every tick, leads within SCHEDULER_LEASE_SECONDS."""
    return lease_seconds - tick_seconds(lease_seconds)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule of a registered task: `interval` (whole seconds) or `cron` (UTC)."""

    task: ScheduledTask

    def __post_init__(self) -> None:
        if self.task.interval is None and self.task.cron is None:
            raise ValueError(f"{self.task.task_name}: only interval and cron schedules run")
        if self.task.cron is not None:
            try:
                is_cron_task_now(self.task.cron, EPOCH, offset=self.task.cron_offset)
            except CronValueError as error:
                raise ValueError(f"{self.task.task_name}: bad cron schedule: {error}") from None

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Its instants in (after, until], oldest first."""
        interval = self.task.interval
        if interval is not None:
            if not isinstance(interval, timedelta):
                interval = timedelta(seconds=interval)
            step = interval // MILLISECOND
            first = (_epoch_ms(after) // step + 1) * step
            return [EPOCH + t * MILLISECOND for t in range(first, _epoch_ms(until) + 1, step)]
        assert self.task.cron is not None
        found, minute = [], after.replace(second=0, microsecond=0) + MINUTE
        while minute <= until:
            if is_cron_task_now(self.task.cron, minute, offset=self.task.cron_offset):
                found.append(minute)
            minute += MINUTE
        return found


class ScheduleLeader:
    """Runs on every scheduler (and in the embedded server) until cancelled; sends only
    while it leads. Logs one line when it takes the lead and one when it loses it."""

    def __init__(
        self,
        broker: AsyncBroker,
        lease: LeaderLease,
        cache: Cache,
        clock: Clock,
        *,
        lease_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._lease = lease
        self._cache = cache
        self._clock = clock
        self._monotonic = monotonic
        self._held_seconds = held_seconds(lease_seconds)
        self.tick_seconds = tick_seconds(lease_seconds)
        self._catch_up = timedelta(seconds=lease_seconds * CATCH_UP_LEASES)
        # a claim outlives every leader that could consider its occurrence again
        self._claim_seconds = lease_seconds * (CATCH_UP_LEASES + 1)
        self._leading = False
        self._valid_until = 0.0  # monotonic: the lease is surely ours until then
        self._since: datetime | None = None  # every occurrence up to here was handled

    async def run(self) -> None:
        source = LabelScheduleSource(self._broker)
        await source.startup()
        schedules = [Schedule(task) for task in await source.get_schedules()]
        sender = TaskiqScheduler(self._broker, [source])
        try:
            while True:
                await self._tick(sender, source, schedules)
                await asyncio.sleep(self.tick_seconds)
        finally:
            if self._leading:
                await self._step_down()

    async def _tick(
        self, sender: TaskiqScheduler, source: LabelScheduleSource, schedules: list[Schedule]
    ) -> None:
        asked = self._monotonic()
        held: bool | None = None  # None: Redis did not answer, so it is not known
        try:
            held = await (self._lease.renew() if self._leading else self._lease.acquire())
            OUTAGES.recovered("redis")
        except Exception as error:
            if OUTAGES.report(error) is None:
                raise
        if held:
            self._valid_until = asked + self._held_seconds
            if not self._leading:
                self._leading, self._since = True, None
                logger.info(
                    "scheduler took the lead", lease=self._lease.key, holder=self._lease.holder
                )
        elif self._leading and (held is False or self._monotonic() >= self._valid_until):
            self._leading = False
            reason = "ran out or taken" if held is False else "Redis did not answer in time"
            logger.warning(
                "scheduler lost the lead",
                lease=self._lease.key,
                holder=self._lease.holder,
                reason=reason,
            )
        if self._leading:
            try:
                await self._send_due(sender, source, schedules)
            except Exception as error:
                if OUTAGES.report(error) is None:
                    raise

    async def _send_due(
        self, sender: TaskiqScheduler, source: LabelScheduleSource, schedules: list[Schedule]
    ) -> None:
        now = self._clock.now()
        if self._since is None:  # just took the lead: go on from where the last leader got
            reached = await self._cache.get(REACHED)
            self._since = datetime.fromisoformat(reached.decode()) if reached else now
        since = max(self._since, now - self._catch_up)
        for schedule in schedules:
            for occurrence in schedule.occurrences(since, now):
                left = self._valid_until - self._monotonic()
                if left <= 0:
                    return  # paused past the lease: it may be another's, send nothing more
                key = f"{SENT}:{schedule.task.task_name}:{occurrence:%Y-%m-%dT%H:%M:%SZ}"
                claim = await self._cache.increment(key, window_seconds=self._claim_seconds)
                if claim.value == 1:  # the first to count it sends it
                    labels = schedule.task.labels | {
                        SCHEDULED_FOR: occurrence.isoformat(),
                        SENT_BY: self._lease.holder,
                    }
                    async with asyncio.timeout(left):
                        await sender.on_ready(
                            source, schedule.task.model_copy(update={"labels": labels})
                        )
        await self._cache.set(
            REACHED, now.isoformat().encode(), ttl_seconds=self._catch_up.total_seconds()
        )
        self._since = now

    async def _step_down(self) -> None:
        """On the way out: hand the lead over at once instead of after the lease."""
        self._leading = False
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.tick_seconds):
                await self._lease.release()
        logger.info(
            "scheduler lost the lead",
            lease=self._lease.key,
            holder=self._lease.holder,
            reason="stopped",
        )


def _epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, rounded down."""
    return (moment - EPOCH) // MILLISECOND
