"""Ports of background work: the durable job store, the queue to workers, the handlers,
and the lease that lets one of several schedulers lead."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from tessera.features.jobs.domain.job import DeadJob, Job

Outcome = Literal["succeeded", "retried", "dead", "skipped"]


class JobStore(Protocol):
    """The outbox rows, seen as jobs. Every method works in the caller's unit of work:
    nothing it changes is visible to other processes until that commits.

    States: pending (waiting or running), done, dead. A pending job is "handed out" to
    the queue (lease on dispatch) and "claimed" by the worker running it (lease on
    execution); a lease that runs out lets another relay or worker take the job, so a
    crashed process delays a job but never loses it.
    """

    async def take_due(
        self,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        ids: Sequence[uuid.UUID] | None = None,
    ) -> list[Job]:
        """Pending jobs whose time has come and that no live lease holds, now handed out.

        Concurrent callers never receive the same job within one lease.
        """
        ...

    async def release(self, job_id: str) -> None:
        """Handing out failed (the queue is down): the next relay may take the job."""
        ...

    async def claim(self, job_id: str, *, now: datetime, lease: timedelta) -> int | None:
        """Reserve the job for running; returns its failed attempts so far, or None when
        it is done, dead, unknown, or claimed by another worker whose lease still runs."""
        ...

    async def complete(self, job_id: str, *, now: datetime) -> None:
        """The job is done; its data is forgotten (it may hold one-time links)."""
        ...

    async def retry_later(
        self, job_id: str, *, attempts: int, at: datetime, error: str
    ) -> None: ...

    async def bury(self, job_id: str, *, attempts: int, now: datetime, error: str) -> None:
        """The job failed for good: it joins the dead-letter list."""
        ...

    async def dead(self, *, limit: int) -> list[DeadJob]:
        """The dead-letter list, oldest failure first."""
        ...

    async def revive(self, job_id: str, *, now: datetime) -> Job | None:
        """A dead job becomes pending again, handed out now, with no attempts counted;
        None if it is not dead."""
        ...

    async def count_dead(self) -> int: ...

    async def prune_done(self, *, before: datetime) -> int:
        """Forget jobs finished before `before`; returns how many."""
        ...


class JobQueue(Protocol):
    """The transport to the workers (Redis streams, or in-process when embedded).

    `enqueue` returns once the broker holds the job and raises `DependencyUnavailable`
    when it cannot take it. Delivery is at least once: a job whose worker dies before
    finishing is delivered again.
    """

    async def enqueue(self, job: Job, *, queue: str) -> None: ...

    async def depths(self) -> dict[str, int]:
        """Jobs waiting or unacknowledged per queue; raises when the broker is down."""
        ...


class JobHandler(Protocol):
    """Does the work of one job type. Raising means "failed, try again later"."""

    async def handle(self, job: Job) -> None: ...


class JobMetrics(Protocol):
    """Counts jobs by type and outcome, and how long they ran."""

    def observe(self, job_type: str, outcome: Outcome, seconds: float) -> None: ...


class LeaderLease(Protocol):
    """One named lease that several processes contend for; at most one holds it at a time.

    The holder keeps it by renewing it within `seconds` of the last acquire or renew; one
    that stops renewing (killed, paused, cut off) loses it when they run out, and then any
    other may take it. Every call acts for this holder only, identified by its token, so a
    holder whose lease ran out cannot renew or release the next holder's.
    """

    @property
    def key(self) -> str:
        """Where the lease is kept (named in logs)."""
        ...

    @property
    def holder(self) -> str:
        """This holder's token (named in logs)."""
        ...

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; False when somebody does (this holder too:
        a holder renews)."""
        ...

    async def renew(self) -> bool:
        """Hold it `seconds` more if this holder still holds it; False when it ran out or
        another took it."""
        ...

    async def release(self) -> None:
        """Give it up at once if this holder holds it; otherwise do nothing."""
        ...
