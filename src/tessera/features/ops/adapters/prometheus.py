"""Prometheus metrics of the API: HTTP traffic, connection pools, and the exposition.

Several server workers: `tessera serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh
directory before granian starts them (`main.server.metrics_directory`), so each worker writes its
samples to files there and `GET /metrics`, whichever worker answers it, reads all of them
(prometheus-client's multiprocess mode). Without the variable (tests, a bare ASGI import)
the metrics are this process's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from tessera.features.ops.adapters.pool_gauges import PoolGauges

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404 before routing)."""

_LABELS = ("method", "route", "status")
_REQUESTS = Counter("http_requests", "HTTP requests answered.", _LABELS)
_ERRORS = Counter("http_errors", "HTTP responses with a 4xx or 5xx status.", _LABELS)
_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_Children = tuple[Any, Any | None, Any]


class HttpMetrics:
    """Counts each answered HTTP request under its route template, never its raw path.

    Labelled children are looked up once per (method, route, status) and kept: `labels()`
    takes a lock and builds a key on every call, which a hot path need not pay.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], _Children] = {}

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        key = (method, route or UNMATCHED, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = _children_for(*key)
        requests, errors, duration = children
        requests.inc()
        if errors is not None:
            errors.inc()
        duration.observe(seconds)


def _children_for(method: str, route: str, status: int) -> _Children:
    labels = (method, route, str(status))
    errors = _ERRORS.labels(*labels) if status >= 400 else None
    return _REQUESTS.labels(*labels), errors, _DURATION.labels(*labels)


class PrometheusReport:
    """`MetricsReport` in Prometheus text, the pool gauges read just before."""

    content_type = CONTENT_TYPE

    def __init__(self, gauges: PoolGauges) -> None:
        self._gauges = gauges

    def render(self) -> bytes:
        self._gauges.update()
        return exposition()


def exposition() -> bytes:
    """The Prometheus text of every worker (multiprocess mode) or of this process."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forget_dead_workers() -> None:
    """Drop the live gauges of workers that are gone (granian replaces a worker that dies);
    each worker calls it as it starts. Counters and histograms of the dead are kept."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path=directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
