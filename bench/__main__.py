"""`python -m bench`: run the registered benchmarks and report their figures.

A whole run (no `--only`) measures the floor once, first, hands it to every benchmark in
`Options.floor`, and writes one report: the machine, a summary of the headline figures with
requests/s relative to that floor, a chart of those ratios, and every benchmark's tables.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench import identity, registry, report
from bench.core import Benchmark, Options, Run, Section
from bench.load import LoadResult

FloorMeasure = Callable[[Options], Awaitable[LoadResult]]


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="HTTP benchmarks: measured seconds per case, whole seconds for wrk (default: 10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="HTTP benchmarks: unmeasured seconds before each case (default: 2)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        metavar="N",
        help="HTTP benchmarks: concurrent connections (default: 32)",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1000,
        metavar="N",
        help="email_pipeline: events committed, one email each; realtime: webhook test "
        "events (default: 1000)",
    )
    parser.add_argument(
        "--committers",
        type=int,
        default=16,
        metavar="C",
        help="email_pipeline: concurrent committers, one commit per request (default: 16)",
    )
    parser.add_argument(
        "--only",
        choices=registry.names(),
        metavar="NAME",
        help=f"run one benchmark (no shared floor, no summary): {', '.join(registry.names())}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results"),
        metavar="DIR",
        help="where the .md, .json and .png reports go (default: bench/results)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--duration must be > 0, --warmup >= 0 and --concurrency >= 1")
    if args.events < 1 or args.committers < 1:
        parser.error("--events and --committers must be >= 1")
    return Options(
        duration=args.duration,
        concurrency=args.concurrency,
        warmup=args.warmup,
        only=args.only,
        out=args.out,
        events=args.events,
        committers=args.committers,
    )


async def run_all(
    benchmarks: Sequence[Benchmark], opts: Options, measure_floor: FloorMeasure | None = None
) -> Run:
    """Run `benchmarks` one after the other. A whole run (`opts.only` None) first measures
    the floor once (`measure_floor`, by default `bench.identity.measure_floor`) and passes
    it to every benchmark as `opts.floor`; a run of one leaves the floor to the benchmark."""
    _cancel_on_sigterm()
    if opts.floor is None and opts.only is None:
        _say("the floor: measured once, first, for every benchmark of the run")
        measure = identity.measure_floor if measure_floor is None else measure_floor
        opts = replace(opts, floor=await measure(opts))
    sections = []
    for benchmark in benchmarks:
        rows = await benchmark.run(opts)
        setup = benchmark.setup(opts)
        sections.append(
            Section(
                benchmark.name, benchmark.title, benchmark.notes, rows, setup, benchmark.headlines
            )
        )
    return Run(sections, opts.floor)


def _say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr)


def _cancel_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers under test are stopped, not orphaned."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def main(argv: Sequence[str] | None = None, *, measure_floor: FloorMeasure | None = None) -> int:
    opts = parse_args(argv)
    info = report.meta(opts, datetime.now(UTC))
    try:
        run = asyncio.run(run_all(registry.select(opts.only), opts, measure_floor))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; servers stopped, nothing written", file=sys.stderr)
        return 130
    print(report.markdown(info, run))
    for path in report.write(info, run, opts.out):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
