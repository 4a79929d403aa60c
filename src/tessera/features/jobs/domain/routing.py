"""Which queue each job type goes to, and how often it is tried."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tessera.features.jobs.domain.job import RetryPolicy

EMAIL_QUEUE = "email_queue"
WEBHOOKS_QUEUE = "webhooks"
DEFAULT_QUEUE = "default"
QUEUES = (EMAIL_QUEUE, WEBHOOKS_QUEUE, DEFAULT_QUEUE)


@dataclass(frozen=True, slots=True)
class JobRoute:
    queue: str
    policy: RetryPolicy


class JobRouting:
    """Routes by job type; a type nobody listed (an event without subscribers so far) takes
    the default route."""

    def __init__(self, routes: Mapping[str, JobRoute], default: JobRoute) -> None:
        unknown = {route.queue for route in (*routes.values(), default)} - set(QUEUES)
        if unknown:
            raise ValueError(f"unknown queues: {sorted(unknown)}")
        self._routes = dict(routes)
        self._default = default

    def route(self, job_type: str) -> JobRoute:
        return self._routes.get(job_type, self._default)
