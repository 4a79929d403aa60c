"""Two `tessera scheduler` processes on one Redis (issue 20): one leads, the other takes over
when the leader is killed or stalls, and the outbox sweep goes to the queue exactly once per
period throughout, none skipped.

No worker runs, so every message the schedulers send stays in the `default` stream, where
the test reads it: the task, the occurrence it was sent for (`scheduled_for`), the
scheduler that sent it (`sent_by`) and, in its stream id, when Redis received it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tessera.features.jobs.adapters.taskiq_tasks import SWEEP_OUTBOX
from tests import services
from tests.e2e.processes import tessera_processes

pytestmark = pytest.mark.slow

LEASE = 2.0  # SCHEDULER_LEASE_SECONDS; a tick is a tenth of it
SLACK = 0.5  # for a loaded machine: a process's tick may come late


@dataclass(frozen=True)
class Sent:
    task: str
    scheduled_for: datetime
    sent_by: str
    received_at: float  # Redis's clock, epoch seconds


@dataclass
class Scheduler:
    process: subprocess.Popen[bytes]
    log: Path

    def records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def said(self, message: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("message") == message]

    @property
    def holder(self) -> str:
        (took, *_) = self.said("scheduler took the lead")
        return str(took["holder"])


class Schedulers:
    def __init__(self, start: Callable[..., subprocess.Popen[bytes]], folder: Path) -> None:
        self._start = start
        self._folder = folder
        self.started: list[Scheduler] = []

    def start(self) -> Scheduler:
        log = self._folder / f"scheduler-{len(self.started)}.log"  # as tessera_processes names it
        scheduler = Scheduler(self._start("scheduler"), log)
        self.started.append(scheduler)
        return scheduler


@pytest.fixture
def env(redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "SCHEDULER_LEASE_SECONDS": str(LEASE),
        "OUTBOX_SWEEP_SECONDS": "1",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def schedulers(env: dict[str, str], tmp_path: Path) -> Iterator[Schedulers]:
    with tessera_processes(tmp_path, env) as start:
        yield Schedulers(start, tmp_path)


def sweeps(prefix: str) -> list[Sent]:
    client = redis.Redis.from_url(services.TEST_REDIS_URL)
    try:
        entries = client.xrange(f"{prefix}tessera:queue:default")
    finally:
        client.close()
    assert entries is not None
    found = []
    for stream_id, fields in entries:
        assert isinstance(stream_id, bytes)
        assert fields is not None
        message = json.loads(fields[b"data"])
        labels = message["labels"]
        received = int(stream_id.split(b"-")[0]) / 1000
        found.append(
            Sent(
                message["task_name"],
                datetime.fromisoformat(labels["scheduled_for"]),
                labels["sent_by"],
                received,
            )
        )
    assert {sent.task for sent in found} <= {SWEEP_OUTBOX}
    return found


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def assert_once_per_period(sent: list[Sent]) -> None:
    """Every second from the first sweep to the last went out, and went out once."""
    periods = Counter(s.scheduled_for for s in sent)
    assert [p for p, n in periods.items() if n > 1] == [], "a period sent twice"
    first, last = min(periods), max(periods)
    every = {first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)}
    assert sorted(every - set(periods)) == [], "a period skipped"
    assert len(periods) >= 8


def leader_and_follower(schedulers: Schedulers) -> tuple[Scheduler, Scheduler]:
    """The first to start leads (the test waits for it), the second waits."""
    leader = schedulers.start()
    wait_until(lambda: leader.said("scheduler took the lead"), 20, "the first one leads")
    follower = schedulers.start()
    wait_until(lambda: follower.said("scheduler started"), 20, "the second one runs")
    time.sleep(3)  # a few periods led by the first, while the second tries to take over
    return leader, follower


def test_a_killed_leader_is_replaced_within_the_lease_and_no_period_is_missed(
    schedulers: Schedulers, redis_prefix: str
) -> None:
    leader, follower = leader_and_follower(schedulers)
    assert follower.said("scheduler took the lead") == []
    assert {s.sent_by for s in sweeps(redis_prefix)} == {leader.holder}
    leader.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    wait_until(lambda: follower.said("scheduler took the lead"), LEASE + 5, "a new leader")
    time.sleep(3)
    follower.process.send_signal(signal.SIGTERM)
    assert follower.process.wait(15) == 0

    sent = sweeps(redis_prefix)
    (took,) = follower.said("scheduler took the lead")
    assert took["lease"] == f"{redis_prefix}tessera:scheduler:lease"
    assert took["holder"].split(":")[1] == str(follower.process.pid)
    after_kill = [s for s in sent if s.received_at > killed_at]
    assert {s.sent_by for s in after_kill} == {follower.holder}
    assert after_kill[0].received_at - killed_at < LEASE + SLACK, "the next sweep, in a lease"
    assert_once_per_period(sent)
    (stopped,) = follower.said("scheduler lost the lead")
    assert (stopped["holder"], stopped["reason"]) == (follower.holder, "stopped")


def test_a_stalled_leader_stops_before_sending_once_its_lease_has_passed_on(
    schedulers: Schedulers, redis_prefix: str
) -> None:
    """SIGSTOP stands for a long GC pause or a frozen VM: the process does not know it
    stopped, and must notice by itself that the lease is no longer its own."""
    leader, follower = leader_and_follower(schedulers)
    os.kill(leader.process.pid, signal.SIGSTOP)
    stalled_at = time.time()
    wait_until(lambda: follower.said("scheduler took the lead"), LEASE + 5, "a new leader")
    time.sleep(1)
    os.kill(leader.process.pid, signal.SIGCONT)
    resumed_at = time.time()
    wait_until(lambda: leader.said("scheduler lost the lead"), 5, "the old leader steps down")
    time.sleep(2)

    sent = sweeps(redis_prefix)
    (lost,) = leader.said("scheduler lost the lead")
    assert (lost["lease"], lost["holder"]) == (
        f"{redis_prefix}tessera:scheduler:lease",
        leader.holder,
    )
    assert lost["reason"] == "ran out or taken"
    assert [s for s in sent if s.sent_by == leader.holder and s.received_at > resumed_at] == []
    after_stall = [s for s in sent if s.received_at > stalled_at]
    assert after_stall[0].received_at - stalled_at < LEASE + SLACK
    assert_once_per_period(sent)
    assert leader.process.poll() is None, "a leader that lost the lead waits to lead again"
