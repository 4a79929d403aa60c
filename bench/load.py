"""A closed-loop HTTP load generator: N keep-alive connections on raw asyncio streams.

Each connection (`bench.http1`) sends its next request as soon as the previous answer is
read: no pipelining. The requests are cycled through, each connection starting at its own
offset, so a list of several requests is spread evenly. The clock starts after a warm-up;
a request counts when it *completes* inside the measured window, and its latency is taken
with `perf_counter` from sending (or reconnecting) to the last byte of the body.
Requests/s and latencies are over successful (2xx) answers; any other status, and every
transport error (by exception name), is an error.

The connections can be spread over K client processes (`client_processes`): each drives
N/K of them and sends back its latencies, errors and CPU time for the window. With K = 1
(the default) the load runs in this process, next to the CPU sampler. The workers are
started with `spawn`, so with K > 1 the calling script must keep its work under
`if __name__ == "__main__":` (`python -m bench` does).

Reuse: `LoadSpec(url=server.base_url, requests=[Request.json("/things", {...}, token=t),
Request("/things/1", headers=bearer(t))])` cycles through a mix of requests.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from time import perf_counter

from bench.core import Figure
from bench.http1 import Connection, Origin, Prepared, ProtocolError, Request, bearer, path_of

__all__ = [
    "CpuClock",
    "LoadResult",
    "LoadSpec",
    "Request",
    "bearer",
    "machine_cpu_seconds",
    "percentile_ms",
    "run_load",
]

CpuClock = Callable[[], float]
"""Cumulative CPU seconds of something (this process, a server's process group)."""

_TRANSPORT_ERRORS = (OSError, EOFError, ProtocolError, asyncio.LimitOverrunError)
"""What a failed exchange raises: OSError covers TimeoutError, resets and refusals;
EOFError covers `asyncio.IncompleteReadError` (the server closed mid-answer)."""
_ERROR_PAUSE_S = 0.01
"""A connection waits this long after a transport error, so a dead server is not spun on."""
_SPAWN_TIMEOUT_S = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_MACHINE = "machine"


@dataclass(frozen=True)
class LoadSpec:
    """What to send, how hard, for how long.

    `url` names the server; unless `requests` is given, the one request is `method` to the
    URL's path with `headers` and `body`. Given `requests`, their paths are relative to the
    URL's origin and the URL's path is ignored.
    """

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    requests: Sequence[Request] = ()
    concurrency: int = 32
    duration: float = 10.0
    warmup: float = 2.0
    timeout: float = 10.0
    client_processes: int = 1
    cpu_clocks: Mapping[str, CpuClock] = field(default_factory=dict)

    def request_list(self) -> list[Request]:
        if self.requests:
            return list(self.requests)
        return [Request(path_of(self.url), self.method, self.headers, self.body)]


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
    """Share of one core used during the window, per clock (1.0 = one full core); `client`
    sums every client process."""
    other_cpu: float | None = None
    """Cores the rest of the machine used meanwhile (other processes, the kernel): noise."""

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
            "other_cpu": self.other_cpu,
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


@dataclass(frozen=True)
class _Plan:
    """One client process's share of the load; picklable, so it can cross to a worker."""

    origin: Origin
    requests: tuple[Prepared, ...]
    first_connection: int
    """Global index of this share's first connection: where its request cycle starts."""
    connections: int
    timeout: float


@dataclass
class _Tally:
    """What one client process saw during the window."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    errors: Counter[str] = field(default_factory=Counter)
    cpu_share: float = 0.0
    """This process's CPU, as a share of one core over the window (worker processes only)."""

    def record(self, error: str | None, seconds: float) -> None:
        if error is None:
            self.latencies.append(seconds)
        else:
            self.errors[error] += 1


async def run_load(spec: LoadSpec) -> LoadResult:
    plans = _plans(spec)
    clocks = {"client": time.process_time, **spec.cpu_clocks, _MACHINE: machine_cpu_seconds}
    if len(plans) == 1:
        window = _window_from_now(spec)
        tallies, cpu = await _gather_in_process(plans[0], window, clocks)
    else:
        window, tallies, cpu = await _gather_from_processes(plans, spec, clocks)
    cpu["client"] += sum(tally.cpu_share for tally in tallies)
    other = cpu.pop(_MACHINE) - sum(cpu.values())
    return _result(tallies, window, cpu, other)


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, all cores together (Linux)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
    return (user + nice + system + irq + softirq) / _CLOCK_TICKS


def _plans(spec: LoadSpec) -> list[_Plan]:
    """Split the connections over the client processes, as evenly as they go."""
    origin = Origin.from_url(spec.url)
    prepared = tuple(request.prepare(origin) for request in spec.request_list())
    processes = max(1, min(spec.client_processes, spec.concurrency))
    shares = [spec.concurrency // processes] * processes
    for index in range(spec.concurrency % processes):
        shares[index] += 1
    firsts = [sum(shares[:index]) for index in range(processes)]
    return [
        _Plan(origin, prepared, first, share, spec.timeout)
        for first, share in zip(firsts, shares, strict=True)
    ]


def _window_from_now(spec: LoadSpec) -> _Window:
    begin = perf_counter() + spec.warmup
    return _Window(begin, begin + spec.duration)


async def _gather_in_process(
    plan: _Plan, window: _Window, clocks: Mapping[str, CpuClock]
) -> tuple[list[_Tally], dict[str, float]]:
    sampler = asyncio.create_task(_sample_cpu(clocks, window))
    tally = await _drive(plan, window)
    return [tally], await sampler


async def _drive(plan: _Plan, window: _Window) -> _Tally:
    """Run a plan's connections until the window closes; what they saw inside it."""
    tally = _Tally()
    last = plan.first_connection + plan.connections
    lanes = [_Lane(index) for index in range(plan.first_connection, last)]
    watchdog = asyncio.create_task(_watch(lanes, plan.timeout))
    try:
        await asyncio.gather(*(_run_lane(lane, plan, window, tally) for lane in lanes))
    finally:
        watchdog.cancel()
    return tally


class _Lane:
    """One connection's closed loop: its keep-alive connection (None until opened, or after
    it was lost) and since when its current request has been in flight."""

    __slots__ = ("connection", "index", "since", "timed_out")

    def __init__(self, index: int) -> None:
        self.index = index
        """Global connection index: where this lane starts cycling through the requests."""
        self.connection: Connection | None = None
        self.since = math.inf
        self.timed_out = False

    def expire_if_sent_before(self, limit: float) -> None:
        if self.since < limit and self.connection is not None and not self.timed_out:
            self.timed_out = True
            self.connection.abort()

    def drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None
        self.timed_out = False


async def _watch(lanes: Sequence[_Lane], patience: float) -> None:
    """Abort the connection of any request in flight for longer than `patience` seconds,
    checking every tenth of it: much cheaper than a timer per request, and precise enough."""
    while True:
        await asyncio.sleep(patience / 10)
        limit = perf_counter() - patience
        for lane in lanes:
            lane.expire_if_sent_before(limit)


async def _run_lane(lane: _Lane, plan: _Plan, window: _Window, tally: _Tally) -> None:
    requests, turn = plan.requests, lane.index
    try:
        while (sent := perf_counter()) < window.end:
            request = requests[turn % len(requests)]
            turn += 1
            lane.since = sent
            error = await _exchange(lane, plan, request)
            lane.since = math.inf
            answered = perf_counter()
            if window.holds(answered):
                tally.record(error, answered - sent)
            if _is_transport(error):
                await asyncio.sleep(_ERROR_PAUSE_S)
    finally:
        lane.drop()


async def _exchange(lane: _Lane, plan: _Plan, request: Prepared) -> str | None:
    """One request, (re)connecting first if need be: the error kind, None for a 2xx."""
    try:
        if lane.connection is None:
            async with asyncio.timeout(plan.timeout):
                lane.connection = await Connection.open(plan.origin)
        status = await lane.connection.exchange(request)
    except _TRANSPORT_ERRORS as error:
        kind = "TimeoutError" if lane.timed_out else type(error).__name__
        lane.drop()
        return kind
    if lane.timed_out:  # the answer came in just as the watchdog gave up on it
        lane.drop()
        return "TimeoutError"
    if not lane.connection.reusable:
        lane.drop()
    return None if 200 <= status < 300 else f"HTTP {status}"


def _is_transport(error: str | None) -> bool:
    return error is not None and not error.startswith("HTTP ")


async def _sample_cpu(clocks: Mapping[str, CpuClock], window: _Window) -> dict[str, float]:
    await asyncio.sleep(max(0.0, window.start - perf_counter()))
    started, before = perf_counter(), {name: clock() for name, clock in clocks.items()}
    await asyncio.sleep(max(0.0, window.end - perf_counter()))
    elapsed, after = perf_counter() - started, {name: clock() for name, clock in clocks.items()}
    return {name: (after[name] - before[name]) / elapsed for name in clocks}


async def _gather_from_processes(
    plans: Sequence[_Plan], spec: LoadSpec, clocks: Mapping[str, CpuClock]
) -> tuple[_Window, list[_Tally], dict[str, float]]:
    """Start a worker process per plan; once all are up, open the window for all of them.

    `perf_counter` is the system-wide monotonic clock, so one window suits every process.
    """
    with _spawned(plans) as pipes:
        async with asyncio.timeout(_SPAWN_TIMEOUT_S):
            await _receive_all(pipes)
        window = _window_from_now(spec)
        for pipe in pipes:
            pipe.send(window)
        sampler = asyncio.create_task(_sample_cpu(clocks, window))
        tallies = [_as_tally(answer) for answer in await _receive_all(pipes)]
        return window, tallies, await sampler


@contextmanager
def _spawned(plans: Sequence[_Plan]) -> Iterator[list[Pipe]]:
    """A worker process per plan, and a pipe to each; terminated if we unwind early."""
    context = multiprocessing.get_context("spawn")
    workers: list[multiprocessing.process.BaseProcess] = []
    pipes: list[Pipe] = []
    try:
        for plan in plans:
            ours, theirs = context.Pipe()
            worker = context.Process(target=_worker_main, args=(plan, theirs), daemon=True)
            worker.start()
            theirs.close()
            workers.append(worker)
            pipes.append(ours)
        yield pipes
    except BaseException:
        for process in workers:
            process.terminate()
        raise
    finally:
        for process in workers:
            process.join()
        for pipe in pipes:
            pipe.close()


async def _receive_all(pipes: Sequence[Pipe]) -> list[object]:
    return await asyncio.gather(*(asyncio.to_thread(_receive, pipe) for pipe in pipes))


def _receive(pipe: Pipe) -> object:
    try:
        return pipe.recv()
    except EOFError:
        raise RuntimeError("a client process died; see its traceback above") from None


def _as_tally(answer: object) -> _Tally:
    if not isinstance(answer, _Tally):
        raise TypeError(f"a client process sent {answer!r}, not its tally")
    return answer


def _worker_main(plan: _Plan, pipe: Pipe) -> None:
    """A client process: say it is up, wait for the window, drive its share, report.

    Ctrl-C reaches the whole process group; the parent stops the workers, so they ignore it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipe.send("ready")
    window = pipe.recv()
    assert isinstance(window, _Window)
    pipe.send(asyncio.run(_drive_and_time(plan, window)))
    pipe.close()


async def _drive_and_time(plan: _Plan, window: _Window) -> _Tally:
    sampler = asyncio.create_task(_sample_cpu({"self": time.process_time}, window))
    tally = await _drive(plan, window)
    tally.cpu_share = (await sampler)["self"]
    return tally


def _result(
    tallies: Sequence[_Tally], window: _Window, cpu: dict[str, float], other_cpu: float
) -> LoadResult:
    latencies = sorted(seconds for tally in tallies for seconds in tally.latencies)
    errors: Counter[str] = sum((tally.errors for tally in tallies), Counter())
    return LoadResult(
        ok=len(latencies),
        errors=errors.total(),
        error_kinds=dict(errors),
        window_s=window.end - window.start,
        p50_ms=percentile_ms(latencies, 0.50),
        p90_ms=percentile_ms(latencies, 0.90),
        p99_ms=percentile_ms(latencies, 0.99),
        cpu=cpu,
        other_cpu=max(0.0, other_cpu),
    )


def percentile_ms(ordered: list[float], quantile: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1] * 1000
