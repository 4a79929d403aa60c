"""A closed-loop HTTP load generator: N workers sharing one keep-alive httpx client.

Every worker sends its next request as soon as the previous one is answered. The clock
starts after a warm-up; a request counts when it *completes* inside the measured window,
and its latency is taken with `perf_counter` around the whole exchange (body read).
Requests/s and latencies are over successful (2xx) answers; anything else is an error.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from time import perf_counter

import httpx

from bench.core import Figure

CpuClock = Callable[[], float]
"""Cumulative CPU seconds of something (this process, a server's process group)."""


@dataclass(frozen=True)
class LoadSpec:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = 32
    duration: float = 10.0
    warmup: float = 2.0
    timeout: float = 10.0
    cpu_clocks: Mapping[str, CpuClock] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    ok: int
    errors: int
    error_kinds: dict[str, int]
    window_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    cpu: dict[str, float]
    """Share of one core used during the window, per clock (1.0 = one full core)."""

    @property
    def rps(self) -> float:
        return self.ok / self.window_s

    def cpu_ms_per_request(self, clock: str) -> float | None:
        """CPU milliseconds a clock spent per successful request: cost, whatever the rate."""
        return self.cpu[clock] * self.window_s * 1000 / self.ok if self.ok else None

    def figures(self) -> dict[str, Figure]:
        cpu: dict[str, Figure] = {f"{name}_cpu": share for name, share in self.cpu.items()}
        cpu |= {f"{name}_cpu_ms_per_req": self.cpu_ms_per_request(name) for name in self.cpu}
        latency = {"p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms}
        figures: dict[str, Figure] = {
            "rps": self.rps,
            **latency,
            "ok": self.ok,
            "errors": self.errors,
            **cpu,
        }
        if self.error_kinds:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in self.error_kinds.items())
            figures["error_kinds"] = kinds
        return figures


@dataclass(frozen=True)
class _Window:
    start: float
    end: float

    def holds(self, instant: float) -> bool:
        return self.start <= instant <= self.end


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, error: str | None, seconds: float) -> None:
        if error is None:
            self.latencies.append(seconds)
        else:
            self.errors[error] += 1


async def run_load(spec: LoadSpec) -> LoadResult:
    clocks = {"client": time.process_time, **spec.cpu_clocks}
    tally = _Tally()
    async with _client(spec) as client:
        begin = perf_counter() + spec.warmup
        window = _Window(begin, begin + spec.duration)
        sampler = asyncio.create_task(_sample_cpu(clocks, window))
        await asyncio.gather(
            *(_worker(client, spec, window, tally) for _ in range(spec.concurrency))
        )
        cpu = await sampler
    return _result(tally, window, cpu)


def _client(spec: LoadSpec) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency
    )
    return httpx.AsyncClient(http1=True, http2=False, limits=limits, timeout=spec.timeout)


async def _worker(
    client: httpx.AsyncClient, spec: LoadSpec, window: _Window, tally: _Tally
) -> None:
    while (sent := perf_counter()) < window.end:
        error = await _exchange(client, spec)
        answered = perf_counter()
        if window.holds(answered):
            tally.record(error, answered - sent)


async def _exchange(client: httpx.AsyncClient, spec: LoadSpec) -> str | None:
    """One request, its body read; the error kind, or None for a 2xx answer."""
    try:
        response = await client.request(spec.method, spec.url, headers=dict(spec.headers))
    except httpx.HTTPError as error:
        return type(error).__name__
    return None if response.is_success else f"HTTP {response.status_code}"


async def _sample_cpu(clocks: Mapping[str, CpuClock], window: _Window) -> dict[str, float]:
    await asyncio.sleep(max(0.0, window.start - perf_counter()))
    started, before = perf_counter(), {name: clock() for name, clock in clocks.items()}
    await asyncio.sleep(max(0.0, window.end - perf_counter()))
    elapsed, after = perf_counter() - started, {name: clock() for name, clock in clocks.items()}
    return {name: (after[name] - before[name]) / elapsed for name in clocks}


def _result(tally: _Tally, window: _Window, cpu: dict[str, float]) -> LoadResult:
    latencies = sorted(tally.latencies)
    return LoadResult(
        ok=len(latencies),
        errors=tally.errors.total(),
        error_kinds=dict(tally.errors),
        window_s=window.end - window.start,
        p50_ms=_percentile_ms(latencies, 0.50),
        p90_ms=_percentile_ms(latencies, 0.90),
        p99_ms=_percentile_ms(latencies, 0.99),
        cpu=cpu,
    )


def _percentile_ms(ordered: list[float], quantile: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1] * 1000
