"""Soak: the end-to-end tests that run the app in-process, many times in a row, with every
core kept busy by other processes. A hang that needs load and luck shows up here.

    uv run just soak-tests                        # 30 runs of the default folders
    uv run just soak-tests 5 tests/e2e/flags      # 5 runs of other tests

Each run is `pytest -n 2 -m "not slow"` on the folders whose tests build
apps with Litestar's `AsyncTestClient` (flags, identity, files, notifications, webhooks;
the `slow` ones start server processes instead). A hung test is ended by its own timeout
(`tests/hangs.py`) and its run counted as a hang; a run past `--run-timeout` is stopped and
counted as one too. The load: one process per core spinning at normal priority, started
before the first run and stopped after the last, whatever happens. Each run is its own
session (so a hung run is killed as a group); where Linux groups the scheduling by session
(`kernel.sched_autogroup_enabled`), that leaves the tests about half the CPU. One line per run, then
the totals; each run's output is kept in `var/soak/`. Exit code 1 if any run failed or
hung.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

FOLDERS = (
    "tests/e2e/flags",
    "tests/e2e/identity",
    "tests/e2e/files",
    "tests/e2e/notifications",
    "tests/e2e/webhooks",
)
HANG_MARK = "ran past its"  # what tests/hangs.py prints for a test that timed out
LOGS = Path("var/soak")


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU while inside."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def run_once(paths: Sequence[str], timeout: float) -> tuple[str, str]:
    """One pytest run: its outcome (`passed`, `failed` or `hung`) and its output."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-n",
        "2",
        "-m",
        "not slow",
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=1",
        *paths,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return "hung", f"{output}\n[soak] the run was stopped after {timeout:g} s\n"
    if HANG_MARK in output:
        return "hung", output
    return ("passed" if process.returncode == 0 else "failed"), output


def summary(output: str) -> str:
    """pytest's closing counts and the slowest test's time, from a run's output."""
    counts = re.findall(r"^=* ?(\d+ (?:passed|failed).*?) in [\d.]+s", output, re.MULTILINE)
    slowest = re.search(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)", output, re.MULTILINE)
    parts = [counts[-1] if counts else "no summary"]
    if slowest:
        parts.append(f"slowest {slowest.group(1)} s ({slowest.group(2)})")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=30)
    parser.add_argument("paths", nargs="*", default=list(FOLDERS))
    parser.add_argument(
        "--spinners",
        type=int,
        default=os.cpu_count() or 2,
        help="CPU-bound processes beside the tests (default: one per core)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        help="seconds before a whole run is stopped as hung",
    )
    args = parser.parse_args(argv)
    outcomes: Counter[str] = Counter()
    LOGS.mkdir(parents=True, exist_ok=True)
    for stale in LOGS.glob("run-*.log"):
        stale.unlink()
    print(f"soak: {args.runs} runs of {' '.join(args.paths)} beside {args.spinners} spinners")
    started = time.monotonic()
    with busy_cores(args.spinners):
        for run in range(1, args.runs + 1):
            began = time.monotonic()
            outcome, output = run_once(args.paths, args.run_timeout)
            outcomes[outcome] += 1
            line = (
                f"run {run}/{args.runs}: {outcome}, {summary(output)}, "
                f"{time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.1f}"
            )
            log = LOGS / f"run-{run}-{outcome}.log"
            log.write_text(output)
            print(f"{line}, log {log}", flush=True)
    minutes = (time.monotonic() - started) / 60
    print(
        f"soak: {outcomes['passed']} passed, {outcomes['failed']} failed, "
        f"{outcomes['hung']} hung, of {args.runs} runs in {minutes:.0f} min"
    )
    return 0 if outcomes["passed"] == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
