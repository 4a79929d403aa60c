"""N `email.send` events committed, one per request → N emails accepted by an SMTP server.

Production mode, all on this machine: a throwaway PostgreSQL database (migrated), a Redis
key prefix of the run's own, an SMTP sink in a thread of this process, and one
`tessera worker --queues email_queue,default` and one `tessera scheduler` as subprocesses.

This process plays the API. It builds Tessera's container and, per event, opens a request
scope, records `email_requested("welcome_email", ...)` in the outbox and commits, as a use
case does; the commit tells the relay, which hands the event to the Redis stream in a task
of this process, as in the API. The worker claims the job, renders the template, sends the
email and marks the job done. Everything started is stopped on the way out, failure and
Ctrl-C included: the processes by process group, the database, the Redis keys, the sink.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import structlog
from dishka import AsyncContainer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import stores
from bench.core import Figure, Options, Row
from bench.load import CpuClock, machine_cpu_seconds, percentile_ms
from bench.servers import base_env, group_cpu_seconds, running, tail
from bench.smtp_sink import Arrival, SmtpSink
from tessera.features.email.application.requests import email_requested
from tessera.main import migrations
from tessera.main.ioc import make_container
from tessera.main.settings import load_settings
from tessera.shared.adapters.outbox import OutboxModel
from tessera.shared.application.ports import Outbox, UnitOfWork

NAME = "email_pipeline"
TITLE = "N events committed → N emails accepted by a local SMTP server (production mode)"
NOTES = (
    "This process plays the API: per event a request scope of Tessera's container, "
    "`outbox.record(email_requested(...))` and `uow.commit()`; the commit's listener relays "
    "the event to the Redis stream from a task of this process. The worker runs up to 5 "
    "email jobs at a time (its `email_queue` concurrency) and opens one SMTP connection "
    "per email.",
    "events/s is end to end: emails / (last arrival - first commit); commits/s is events / "
    "the committing time. Latencies are per event, SMTP arrival - commit, matched by the "
    "Message-ID's UUID (the event id). The `·` rows split each event at `dispatched_at`, "
    "when a relay (this process's, or the scheduler's sweep on the worker) took it from the "
    "outbox; percentiles of the parts do not add up to those of the whole.",
    f"CPU is the share of one core over the window (first commit → last email). Worker CPU "
    f"is the worker process, also per email; bench CPU is this process (committers, relay, "
    f"SMTP sink); other CPU is the rest of the machine's {os.cpu_count()} cores: "
    f"PostgreSQL, Redis, the scheduler, noise.",
)

WARMUP_EVENTS = 20
"""Sent and awaited before measuring: the worker is up, its connections are open."""
READY_TIMEOUT_S = 60.0
_POLL_S = 0.05
_WORKER_GRACE_S = 10.0
_TEMPLATE = "welcome_email"


def delivery_bound(events: int) -> float:
    """Seconds allowed from the first commit to the last email: 60, plus 20 events/s."""
    return 60.0 + events / 20


def setup(opts: Options) -> str:
    return (
        f"{opts.events} events, each committed in a request scope of its own by one of "
        f"{opts.committers} concurrent committers, after {WARMUP_EVENTS} warm-up events; one "
        f"`tessera worker --queues email_queue,default` and one `tessera scheduler` "
        f"(OUTBOX_SWEEP_SECONDS=1); PostgreSQL, Redis and the SMTP sink on this machine; "
        f"emails awaited for up to {delivery_bound(opts.events):.0f} s."
    )


async def run(opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    async with _pipeline() as pipeline:
        await _warm_up(pipeline, opts.committers)
        delivery = await _deliver(pipeline, opts)
        dispatched = await _dispatch_times(pipeline.container)
    _say(delivery.summary())
    return _rows(delivery, dispatched)


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


# The pipeline: services, processes, the container


@dataclass(frozen=True)
class _Pipeline:
    container: AsyncContainer
    smtp: SmtpSink
    processes: Mapping[str, asyncio.subprocess.Process]
    logs: Path
    """The directory holding `<process name>.log`."""

    def exited(self) -> str | None:
        """Which process has exited, if one has; the end of its log goes to stderr."""
        for name, process in self.processes.items():
            if process.returncode is not None:
                _say(f"{name} exited ({process.returncode}); its log ends:\n{self.tail(name)}")
                return f"{name} exited ({process.returncode})"
        return None

    def tail(self, name: str) -> str:
        return tail(self.logs / f"{name}.log")

    def tails(self) -> str:
        return "\n".join(f"--- {name}.log\n{self.tail(name)}" for name in self.processes)


_PROCESSES = {
    "worker": ("worker", "--queues", "email_queue,default"),
    "scheduler": ("scheduler",),
}


@asynccontextmanager
async def _pipeline() -> AsyncIterator[_Pipeline]:
    """Everything the benchmark needs, started; torn down in reverse order on the way out."""
    _relay_logs_to_stderr()
    async with AsyncExitStack() as stack:
        _say("creating and migrating a PostgreSQL database")
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        smtp = stack.enter_context(SmtpSink())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-email-")))
        env = _environment(database_url, prefix, smtp, scratch)
        _say(f"starting {' and '.join(_PROCESSES)}")
        processes = {}
        for name, args in _PROCESSES.items():
            log = stack.enter_context((scratch / f"{name}.log").open("wb"))
            argv = [sys.executable, "-m", "tessera", *args]
            processes[name] = await stack.enter_async_context(
                running(argv, env=base_env() | env, cwd=scratch, log=log, grace=_WORKER_GRACE_S)
            )
        container = make_container(load_settings(env, dotenv_path=None))
        stack.push_async_callback(container.close)  # first out: waits for relays in flight
        yield _Pipeline(container, smtp, processes, scratch)


def _environment(database_url: str, prefix: str, smtp: SmtpSink, data_dir: Path) -> dict[str, str]:
    """The configuration this process, the worker and the scheduler share."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": stores.REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(data_dir),
        "OUTBOX_SWEEP_SECONDS": "1",
    }


def _relay_logs_to_stderr() -> None:
    """The relay logs its failures through structlog, whose default is stdout, where the
    report goes; warnings and errors go to stderr instead."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


# Committing events and awaiting their emails


async def _commit(container: AsyncContainer, name: str) -> tuple[uuid.UUID, float]:
    """One request: record the email request, commit; the event id and `time.time()` after."""
    async with container() as scope:
        outbox = await scope.get(Outbox)
        uow = await scope.get(UnitOfWork)
        event = email_requested(_TEMPLATE, f"{name}@example.com", {"full_name": name.title()})
        outbox.record(event)
        await uow.commit()
        return event.id, time.time()


async def _commit_all(
    container: AsyncContainer, names: Iterable[str], committers: int
) -> dict[uuid.UUID, float]:
    """Commit one event per name, `committers` requests at a time; commit times by event id."""
    commits: dict[uuid.UUID, float] = {}
    pending: Iterator[str] = iter(names)  # shared: each committer takes the next name

    async def committer() -> None:
        for name in pending:
            event_id, at = await _commit(container, name)
            commits[event_id] = at

    async with asyncio.TaskGroup() as group:
        for _ in range(committers):
            group.create_task(committer())
    return commits


async def _wait_for(pipeline: _Pipeline, keys: Iterable[uuid.UUID], bound: float) -> str | None:
    """None once an email has arrived for every key; else why not (timeout, a process died)."""
    remaining, read = set(keys), 0
    deadline = perf_counter() + bound
    while True:
        arrivals = pipeline.smtp.arrivals
        end = len(arrivals)
        remaining.difference_update(arrival.key for arrival in arrivals[read:end])
        read = end
        if not remaining:
            return None
        if (problem := pipeline.exited()) is not None:
            return problem
        if perf_counter() >= deadline:
            return f"timed out after {bound:.0f} s"
        await asyncio.sleep(_POLL_S)


async def _warm_up(pipeline: _Pipeline, committers: int) -> None:
    _say(f"warming up: {WARMUP_EVENTS} events, waiting for the worker")
    names = (f"warmup{number}" for number in range(WARMUP_EVENTS))
    commits = await _commit_all(pipeline.container, names, min(committers, WARMUP_EVENTS))
    problem = await _wait_for(pipeline, commits, READY_TIMEOUT_S)
    if problem is not None:
        message = f"the warm-up emails did not arrive: {problem}"
        raise RuntimeError(f"{message}\n{pipeline.tails()}")


@dataclass(frozen=True)
class _Delivery:
    commits: dict[uuid.UUID, float]
    """`time.time()` after each event's commit, by event id."""
    started: float
    """`time.time()` when committing began."""
    committed: float
    """`time.time()` after the last commit."""
    arrivals: list[Arrival]
    problem: str | None
    """Why not every email arrived (None: they all did)."""
    cpu: Mapping[str, float | None]
    """Share of one core over the window, by `worker`, `bench` and `other` (None: unknown,
    as the worker's when it died)."""
    window_s: float

    def summary(self) -> str:
        firsts, duplicates = _first_arrivals(self)
        outcome = f"{len(firsts)} of {len(self.commits)} emails, {duplicates} duplicates"
        return outcome + (f"; {self.problem}" if self.problem else "")


async def _deliver(pipeline: _Pipeline, opts: Options) -> _Delivery:
    bound = delivery_bound(opts.events)
    _say(f"committing {opts.events} events, awaiting their emails (up to {bound:.0f} s)")
    clocks = _clocks(pipeline.processes["worker"].pid)
    before, begun, started = _read(clocks), perf_counter(), time.time()
    names = (f"user{number}" for number in range(opts.events))
    commits = await _commit_all(pipeline.container, names, opts.committers)
    committed = time.time()
    problem = await _wait_for(pipeline, commits, bound - (perf_counter() - begun))
    window_s = perf_counter() - begun
    cpu: dict[str, float | None] = dict(_shares(before, _read(clocks), window_s))
    if pipeline.processes["worker"].returncode is not None:  # its CPU time died with it
        cpu |= {"worker": None, "other": None}
    arrivals = list(pipeline.smtp.arrivals)
    return _Delivery(commits, started, committed, arrivals, problem, cpu, window_s)


def _clocks(worker_pid: int) -> dict[str, CpuClock]:
    return {
        "worker": lambda: group_cpu_seconds(worker_pid),
        "bench": time.process_time,
        "machine": machine_cpu_seconds,
    }


def _read(clocks: Mapping[str, CpuClock]) -> dict[str, float]:
    return {name: clock() for name, clock in clocks.items()}


def _shares(
    before: Mapping[str, float], after: Mapping[str, float], seconds: float
) -> dict[str, float]:
    used = {name: (after[name] - before[name]) / seconds for name in before}
    machine = used.pop("machine")
    return used | {"other": max(0.0, machine - sum(used.values()))}


async def _dispatch_times(container: AsyncContainer) -> dict[uuid.UUID, float]:
    """When a relay took each event from the outbox (`dispatched_at`), as `time.time()`."""
    engine = await container.get(AsyncEngine)
    query = select(OutboxModel.id, OutboxModel.dispatched_at, OutboxModel.attempts)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    if failures := sum(row.attempts for row in rows):
        _say(f"{failures} failed attempts (retried): see the worker's log")
    return {row.id: row.dispatched_at.timestamp() for row in rows if row.dispatched_at}


# The rows


def _first_arrivals(delivery: _Delivery) -> tuple[dict[uuid.UUID, float], int]:
    """The first arrival of each event's email, and how many arrived more than once."""
    ours = [arrival for arrival in delivery.arrivals if arrival.key in delivery.commits]
    counts = Counter(arrival.key for arrival in ours)
    firsts: dict[uuid.UUID, float] = {}
    for arrival in sorted(ours, key=lambda arrival: arrival.at):
        assert arrival.key is not None
        firsts.setdefault(arrival.key, arrival.at)
    return firsts, sum(count - 1 for count in counts.values())


def _rows(delivery: _Delivery, dispatched: Mapping[uuid.UUID, float]) -> list[Row]:
    commits = delivery.commits
    firsts, duplicates = _first_arrivals(delivery)
    relayed = {key: dispatched[key] for key in commits if key in dispatched}
    whole = [at - commits[key] for key, at in firsts.items()]
    to_relay = [at - commits[key] for key, at in relayed.items()]
    to_smtp = [at - relayed[key] for key, at in firsts.items() if key in relayed]
    case = "commit → SMTP 250" + (f" ({delivery.problem})" if delivery.problem else "")
    counts: dict[str, Figure] = {
        "events": len(commits),
        "emails": len(firsts),
        "missing": len(commits) - len(firsts),
        "duplicates": duplicates,
    }
    return [
        Row(case, _rates(delivery, firsts) | _latencies(whole) | counts | _cpu(delivery, firsts)),
        Row("· commit → taken by a relay", _latencies(to_relay)),
        Row("· taken by a relay → SMTP 250", _latencies(to_smtp)),
    ]


def _rates(delivery: _Delivery, firsts: Mapping[uuid.UUID, float]) -> dict[str, Figure]:
    commits = delivery.commits
    span = max(firsts.values()) - min(commits.values()) if firsts else 0.0
    committing = delivery.committed - delivery.started
    return {
        "events_per_s": len(firsts) / span if span > 0 else None,
        "commits_per_s": len(commits) / committing if committing > 0 else None,
    }


def _latencies(seconds: Iterable[float]) -> dict[str, Figure]:
    ordered = sorted(seconds)
    return {
        "p50_ms": percentile_ms(ordered, 0.50),
        "p90_ms": percentile_ms(ordered, 0.90),
        "p99_ms": percentile_ms(ordered, 0.99),
        "max_ms": ordered[-1] * 1000 if ordered else None,
    }


def _cpu(delivery: _Delivery, firsts: Mapping[uuid.UUID, float]) -> dict[str, Figure]:
    worker = delivery.cpu["worker"]
    per_email = None
    if worker is not None and firsts:
        per_email = worker * delivery.window_s * 1000 / len(firsts)
    return {
        "worker_cpu": worker,
        "worker_cpu_ms_per_event": per_email,
        "bench_cpu": delivery.cpu["bench"],
        "other_cpu": delivery.cpu["other"],
    }
