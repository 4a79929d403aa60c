"""Background work: the job a worker runs, and when a failed one is tried again."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec


class Job(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a worker receives, with the seed's fields. `job_id` is the outbox row's id;
    `tenant_id` the tenant of the event (None for one of no tenant), whose rows alone the
    handler's database work can touch."""

    job_id: str
    type: str
    data: dict[str, Any]
    attempts: int
    created_at: str
    tenant_id: str | None = None


class DeadJob(msgspec.Struct, frozen=True):
    """A job that failed for good, as operators see it in the dead-letter list."""

    job: Job
    failed_at: str
    last_error: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_attempts` in all; attempt n+1 waits `base_delay * 2**(n-1)`, capped, ±`jitter`.

    Jitter spreads the retries of many jobs that failed together (a mail server that was
    down) so they do not all come back in the same second.
    """

    max_attempts: int
    base_delay: float
    max_delay: float = 6 * 3600
    jitter: float = 0.1

    def delay_after(
        self, attempts: int, *, draw: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds before the next attempt after `attempts` failures, or None: give up."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.base_delay * 2 ** (attempts - 1), self.max_delay)
        return float(delay * (1 + self.jitter * (2 * draw() - 1)))
