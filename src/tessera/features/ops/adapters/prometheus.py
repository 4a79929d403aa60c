"""Prometheus metrics of the API: HTTP traffic, connection pools, and the exposition.

Several server workers: `tessera serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh
directory before granian starts them (`main.server.metrics_directory`), so each worker writes its
samples to files there and `GET /metrics`, whichever worker answers it, reads all of them
(prometheus-client's multiprocess mode). Without the variable (tests, a bare ASGI import)
the metrics are this process's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from bisect import bisect_left
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
_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    _LABELS,
    buckets=_BOUNDS,
)
FLUSH_SECONDS = 1.0
"""How often a worker hands its tally to the Prometheus values; a scrape answered by another
worker sees this one's requests at most this late."""
_Key = tuple[str, str, int]


class _Tally:
    """The requests of one (method, route, status) since the last flush."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(_BOUNDS) + 1)  # the last one is +Inf


class HttpMetrics:
    """Counts each answered HTTP request under its route template, never its raw path.

    `observe` only adds to a tally in plain Python; `flush` hands it to the Prometheus
    values. In multiprocess mode each of those is a locked write to a memory-mapped file,
    four per request (counter, histogram sum and bucket, error counter): about 7 us of a
    request's time, measured around a bare Litestar app. The flush runs every
    `FLUSH_SECONDS` while the app runs (`start`/`stop`), and before every exposition of this
    process (`flush_http_metrics`), so a scrape always includes the worker that answers it.
    """

    def __init__(self) -> None:
        self._tallies: dict[_Key, _Tally] = {}
        self._children: dict[_Key, tuple[Any, Any | None, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        _INSTANCES.add(self)

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        key = (method, route or UNMATCHED, status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        tally.count += 1
        tally.total += seconds
        tally.buckets[bisect_left(_BOUNDS, seconds)] += 1  # le: a bound counts as inside

    def flush(self) -> None:
        tallies, self._tallies = self._tallies, {}
        for key, tally in tallies.items():
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = _children_for(*key)
            requests, errors, duration = children
            requests.inc(tally.count)
            if errors is not None:
                errors.inc(tally.count)
            # Histogram.observe one value at a time would redo the four writes per request:
            # its child's sum and per-bucket values take whole counts (prometheus_client
            # keeps them as `_sum` and `_buckets`, one per upper bound, +Inf last).
            duration._sum.inc(tally.total)
            for bucket, count in zip(duration._buckets, tally.buckets, strict=True):
                if count:
                    bucket.inc(count)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_every(), name="http-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()


_INSTANCES: weakref.WeakSet[HttpMetrics] = weakref.WeakSet()
"""Every app's tally in this process (tests build many apps; each goes with its app)."""


def flush_http_metrics() -> None:
    """Hand every tally of this process to the Prometheus values (before an exposition)."""
    for metrics in _INSTANCES:
        metrics.flush()


def _children_for(method: str, route: str, status: int) -> tuple[Any, Any | None, Any]:
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
        flush_http_metrics()
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
