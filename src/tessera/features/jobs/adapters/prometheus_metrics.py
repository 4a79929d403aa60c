from __future__ import annotations

from prometheus_client import Counter, Histogram

from tessera.features.jobs.application.ports import Outcome

TASKS = Counter("tasks", "Jobs run, by type and outcome.", ["type", "outcome"])
FAILURES = Counter("task_failures", "Job attempts that failed, by type.", ["type"])
DURATION = Histogram("task_duration_seconds", "Time a job ran, by type.", ["type"])


class PrometheusJobMetrics:
    """`tasks_total`, `task_failures_total` and `task_duration_seconds` in this process."""

    def observe(self, job_type: str, outcome: Outcome, seconds: float) -> None:
        TASKS.labels(job_type, outcome).inc()
        if outcome in ("retried", "dead"):
            FAILURES.labels(job_type).inc()
        if outcome != "skipped":
            DURATION.labels(job_type).observe(seconds)
