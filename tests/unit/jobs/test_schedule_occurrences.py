"""Which instants a schedule falls due at: every scheduler must compute the same ones, so
that one marker per occurrence can stand for its send whichever scheduler makes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from taskiq import ScheduledTask

from tessera.features.jobs.adapters.taskiq_schedules import Schedule


def schedule(
    *,
    interval: int | timedelta | None = None,
    cron: str | None = None,
    time: datetime | None = None,
) -> Schedule:
    return Schedule(
        ScheduledTask(
            task_name="t", labels={}, args=[], kwargs={}, interval=interval, cron=cron, time=time
        )
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_interval_falls_on_its_multiples_since_the_epoch_not_on_the_start() -> None:
    every_2 = schedule(interval=2)
    assert every_2.occurrences(at("2024-05-01 12:00:00.500"), at("2024-05-01 12:00:06")) == [
        at("2024-05-01 12:00:02"),
        at("2024-05-01 12:00:04"),
        at("2024-05-01 12:00:06"),
    ]
    # 12:00:00 is 1714564800 s after the epoch, 4 s past a multiple of 7
    every_7 = schedule(interval=timedelta(seconds=7))
    assert every_7.occurrences(at("2024-05-01 12:00:00"), at("2024-05-01 12:00:15")) == [
        at("2024-05-01 12:00:03"),
        at("2024-05-01 12:00:10"),
    ]


def test_the_range_is_open_below_and_closed_above_so_ticks_never_overlap() -> None:
    every_1 = schedule(interval=1)
    first = every_1.occurrences(at("2024-05-01 12:00:00"), at("2024-05-01 12:00:02"))
    then = every_1.occurrences(at("2024-05-01 12:00:02"), at("2024-05-01 12:00:03.999"))
    assert first == [at("2024-05-01 12:00:01"), at("2024-05-01 12:00:02")]
    assert then == [at("2024-05-01 12:00:03")]
    assert every_1.occurrences(at("2024-05-01 12:00:03.2"), at("2024-05-01 12:00:03.9")) == []


def test_a_cron_schedule_falls_on_the_minutes_it_matches() -> None:
    hourly = schedule(cron="17 * * * *")
    assert hourly.occurrences(at("2024-05-01 11:50:00"), at("2024-05-01 13:20:00")) == [
        at("2024-05-01 12:17"),
        at("2024-05-01 13:17"),
    ]
    assert hourly.occurrences(at("2024-05-01 12:17:00"), at("2024-05-01 13:16:59")) == []
    nightly = schedule(cron="0 3 * * *")
    assert nightly.occurrences(at("2024-05-01 02:59:59"), at("2024-05-01 03:00:00")) == [
        at("2024-05-01 03:00")
    ]


def test_a_bad_cron_or_a_one_off_time_is_refused_when_the_scheduler_starts() -> None:
    with pytest.raises(ValueError, match="bad cron schedule"):
        schedule(cron="17 * *")
    with pytest.raises(ValueError, match="only interval and cron"):
        schedule(time=at("2024-05-01 12:00"))
