"""`GET /health` through Tessera's whole HTTP pipeline, against the floor.

The floor is a bare Litestar app under the same server (granian, ASGI, one worker), so the
ratio is what Tessera's middleware, exception handling, DI and logging set-up cost.
"""

from __future__ import annotations

import os
import sys

from bench.core import Figure, Options, Row
from bench.load import LoadResult, LoadSpec, Request, run_load
from bench.servers import ServerSpec, floor, serving, tessera

NAME = "http_pipeline"
TITLE = "GET /health: Tessera vs the floor (bare Litestar, same granian setup)"
NOTES = (
    f"The load generator (wrk, one thread) and the server share this machine's "
    f"{os.cpu_count()} cores; the two "
    f"servers are measured one after the other, never at once.",
    "CPU is the share of one core during the window (1.00 = one full core). Server CPU counts "
    "all its threads (granian's Rust I/O threads too), so it can pass 1.00 although the app "
    "runs on one Python thread. A client near 1.00 means the load generator, not the server, "
    "bounds req/s and latency; then compare server CPU ms/req, the server's cost per answer "
    "whatever the rate.",
    f"Other CPU is what the rest of the machine used meanwhile (other processes): noise. When "
    f"client + server + other nears {os.cpu_count()}, the machine is full and req/s says "
    f"little; server CPU ms/req still holds.",
    "Ratio rows are tessera / floor: below 1 for req/s, above 1 for p99 and server CPU ms/req "
    "mean Tessera is slower.",
)
PATH = "/health"


def setup(opts: Options) -> str:
    return (
        f"Closed loop (wrk, one thread), {opts.concurrency} keep-alive connections, "
        f"{opts.warmup:g} s warm-up then {opts.duration:g} s measured."
    )


async def run(opts: Options) -> list[Row]:
    floor_result = opts.floor if opts.floor is not None else await _measure(floor(), opts)
    tessera_result = await _measure(tessera(), opts)
    return [
        Row("floor", floor_result.figures()),
        Row("tessera", tessera_result.figures()),
        Row("tessera / floor", _ratios(tessera_result, floor_result), ratio=True),
    ]


async def _measure(spec: ServerSpec, opts: Options) -> LoadResult:
    print(f"[{NAME}] {spec.name}: starting", file=sys.stderr)
    async with serving(spec) as server:
        print(f"[{NAME}] {spec.name}: loading {server.base_url}{PATH}", file=sys.stderr)
        return await run_load(
            LoadSpec(
                url=server.base_url,
                requests=[Request(PATH)],
                concurrency=opts.concurrency,
                duration=opts.duration,
                warmup=opts.warmup,
                cpu_clocks={"server": server.cpu_seconds},
            )
        )


def _ratios(tessera_result: LoadResult, floor_result: LoadResult) -> dict[str, Figure]:
    return {
        "rps": _quotient(tessera_result.rps, floor_result.rps),
        "p99_ms": _quotient(tessera_result.p99_ms, floor_result.p99_ms),
        "server_cpu_ms_per_req": _quotient(
            tessera_result.cpu_ms_per_request("server"), floor_result.cpu_ms_per_request("server")
        ),
    }


def _quotient(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom
