"""HTTP load through wrk: a closed loop of N keep-alive connections, driven by a Lua script.

`wrk(url, requests, ...)` runs wrk once (one thread by default, `--latency`) with
`bench/lua/requests.lua`, which sends the given requests in turn, each connection sending
its next one as soon as the previous answer is read (no pipelining). The requests go to a
Lua data file the script reads; a list of several (one per user's token, one per login
body) spreads the load evenly. The script's `done()` prints a JSON line, which `WrkRun`
holds: requests completed, the measured duration, socket errors, non-2xx answers by status,
p50/p90/p99 and wrk's own CPU seconds.

`run_load(spec)` is what the benchmarks use: a warm-up run of wrk (not measured), then the
measured one, with CPU clocks (the server's, the machine's) read around it. Requests/s
counts the 2xx answers; every other status and every socket error is an error. wrk takes
durations in whole seconds, so `duration` and `warmup` are rounded up.

Reuse: `LoadSpec(url=server.base_url, requests=[Request.json("/things", {...}, token=t),
Request("/things/1", headers=bearer(t))])` cycles through a mix of requests.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from bench.core import Figure

__all__ = [
    "SCRIPT",
    "CpuClock",
    "LoadResult",
    "LoadSpec",
    "Request",
    "WrkRun",
    "bearer",
    "lua_requests",
    "machine_cpu_seconds",
    "parse_summary",
    "percentile_ms",
    "run_load",
    "wrk",
    "wrk_missing",
]

CpuClock = Callable[[], float]
"""Cumulative CPU seconds of something (a server's process group, the machine)."""

SCRIPT = Path(__file__).resolve().parent / "lua" / "requests.lua"
SUMMARY_MARK = "wrk-summary "
"""How the line `done()` prints starts."""
HOW_TO_INSTALL = "install it with `uv run just services` (Debian's wrk package)"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_MACHINE = "machine"
_CLIENT = "client"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Request:
    """One request to send: a path on the server wrk is pointed at."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def json(
        cls,
        path: str,
        payload: object,
        *,
        method: str = "POST",
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """A request with a JSON body and, given a token, an `Authorization: Bearer` header."""
        extra = {"Content-Type": "application/json", **(bearer(token) if token else {})}
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return cls(path, method, {**extra, **(headers or {})}, body)


def lua_requests(requests: Sequence[Request]) -> str:
    """The Lua data file `requests.lua` reads: `return { {method=..., path=..., ...}, ... }`."""
    if not requests:
        raise ValueError("wrk needs at least one request to send")
    entries = []
    for request in requests:
        headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in request.headers.items())
        body = _lua(request.body) if request.body else "nil"
        method, path = _lua(request.method.upper()), _lua(request.path)
        entries.append(
            f"  {{method = {method}, path = {path}, headers = {{{headers}}}, body = {body}}},"
        )
    return "return {\n" + "\n".join(entries) + "\n}\n"


def _lua(text: str) -> str:
    """A Lua string literal of `text`'s UTF-8 bytes: printable ASCII as is, the rest (and the
    quote and backslash) as three-digit decimal escapes, which no following digit extends."""
    plain = range(0x20, 0x7F)
    return (
        '"'
        + "".join(
            chr(byte) if byte in plain and byte not in b'"\\' else f"\\{byte:03d}"
            for byte in text.encode()
        )
        + '"'
    )


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run's `done()` printed."""

    requests: int
    """Answers received, whatever their status."""
    duration_s: float
    errors: dict[str, int]
    """Socket errors by kind (`connect`, `read`, `write`, `timeout`) and answers that are not
    2xx by status (`HTTP 401`); only the non-zero ones."""
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    """Over every answer, whatever its status; None when there was none."""
    cpu_s: float
    """wrk's own CPU time, all its threads, start to end."""

    @property
    def ok(self) -> int:
        """The 2xx answers."""
        return self.requests - sum(n for kind, n in self.errors.items() if kind.startswith("HTTP"))

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def parse_summary(output: str) -> WrkRun:
    """The `wrk-summary {...}` line of a run's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(SUMMARY_MARK):
            summary = json.loads(line.removeprefix(SUMMARY_MARK))
            break
    else:
        raise RuntimeError(f"unexpected wrk output (no summary line):\n{output}")
    errors = {kind: int(summary[kind]) for kind in ("connect", "read", "write", "timeout")}
    errors |= {f"HTTP {status}": int(n) for status, n in sorted(summary["statuses"].items())}
    answered = int(summary["requests"])

    def ms(key: str) -> float | None:
        return int(summary[key]) / 1000 if answered else None

    return WrkRun(
        requests=answered,
        duration_s=int(summary["duration_us"]) / 1e6,
        errors={kind: n for kind, n in errors.items() if n},
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p99_ms=ms("p99_us"),
        cpu_s=float(summary["cpu_s"]),
    )


def wrk_missing() -> str | None:
    """Why wrk cannot run here, or None."""
    return None if shutil.which("wrk") else f"wrk is not installed; {HOW_TO_INSTALL}"


async def wrk(
    url: str,
    requests: Sequence[Request],
    *,
    connections: int,
    seconds: float,
    request_timeout: float = 10.0,
    threads: int = 1,
) -> WrkRun:
    """One wrk run of `seconds` (rounded up to whole seconds) on `connections` keep-alive
    connections, sending `requests` in turn to the server of `url` (its path is not used)."""
    if (missing := wrk_missing()) is not None:
        raise RuntimeError(missing)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        data = Path(folder) / "requests.lua"
        data.write_text(lua_requests(requests))
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{max(connections, threads)}",
            f"-d{_whole(seconds)}s",
            f"--timeout={_whole(request_timeout)}s",
            "--latency",
            "-s",
            str(SCRIPT),
            url,
            "--",
            str(data),
        ]
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            output, _ = await process.communicate()
        finally:
            if process.returncode is None:  # cancelled: wrk would go on loading
                process.kill()
                await process.wait()
    return parse_summary(output.decode(errors="replace"))


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))


@dataclass(frozen=True)
class LoadSpec:
    """What to send, how hard, for how long; `cpu_clocks` are read around the window."""

    url: str
    requests: Sequence[Request] = (Request("/"),)
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
    """Share of one core used during the window, per clock (1.0 = one full core); `client`
    is wrk's."""
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


async def run_load(spec: LoadSpec) -> LoadResult:
    """A warm-up run of wrk, then the measured one, the clocks read just before and after."""
    if spec.warmup > 0:
        await _load(spec, spec.warmup)
    clocks = {**spec.cpu_clocks, _MACHINE: machine_cpu_seconds}
    before, started = {name: clock() for name, clock in clocks.items()}, perf_counter()
    run = await _load(spec, spec.duration)
    elapsed = perf_counter() - started
    used = {name: clock() - before[name] for name, clock in clocks.items()}
    cpu = {_CLIENT: run.cpu_s / elapsed} | {
        name: seconds / elapsed for name, seconds in used.items() if name != _MACHINE
    }
    other = used[_MACHINE] / elapsed - sum(cpu.values())
    return LoadResult(
        ok=run.ok,
        errors=run.error_count,
        error_kinds=run.errors,
        window_s=run.duration_s,
        p50_ms=run.p50_ms,
        p90_ms=run.p90_ms,
        p99_ms=run.p99_ms,
        cpu=cpu,
        other_cpu=max(0.0, other),
    )


async def _load(spec: LoadSpec, seconds: float) -> WrkRun:
    return await wrk(
        spec.url,
        spec.requests,
        connections=spec.concurrency,
        seconds=seconds,
        request_timeout=spec.timeout,
    )


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, all cores together (Linux)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
    return (user + nice + system + irq + softirq) / _CLOCK_TICKS


def percentile_ms(ordered: list[float], quantile: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1] * 1000
