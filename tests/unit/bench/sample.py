"""A whole run built by hand: the floor, and sections shaped like the real benchmarks'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.core import KNOWN_HEADLINES, Options, Row, Run, Section
from bench.load import LoadResult

STARTED = datetime(2026, 12, 2, 5, 0, 0, tzinfo=UTC)
FLOOR_RPS = 10_000.0


def load(rps: float, *, p99_ms: float = 9.0, window_s: float = 10.0) -> LoadResult:
    return LoadResult(
        ok=round(rps * window_s),
        errors=0,
        error_kinds={},
        window_s=window_s,
        p50_ms=p99_ms / 3,
        p90_ms=p99_ms / 1.5,
        p99_ms=p99_ms,
        cpu={"client": 0.95, "server": 1.02},
        other_cpu=0.1,
    )


FLOOR = load(FLOOR_RPS, p99_ms=6.0)


def section(name: str, rows: list[Row]) -> Section:
    return Section(name, f"the {name} benchmark", ("a note",), rows, "", KNOWN_HEADLINES[name])


def sections() -> list[Section]:
    tessera = load(5_000.0, p99_ms=12.0)
    return [
        section(
            "http_pipeline",
            [
                Row("floor", load(11_000.0).figures()),
                Row("tessera", tessera.figures()),
                Row("tessera / floor", {"rps": 5_000 / 11_000}, ratio=True),
            ],
        ),
        section(
            "identity",
            [
                Row("floor GET /health, c=32", FLOOR.figures()),
                Row("tessera GET /users/me, c=32", load(2_500.0).figures()),
                Row("/users/me / floor", {"rps": 0.25}, ratio=True),
                Row("POST /auth/login, c=8", load(41.0).figures()),
                Row("GET /users/me, c=16, no storm", load(2_400.0).figures()),
                Row("storm / no storm, c=16", {"rps": 0.6, "p99_ms": 1.8}, ratio=True),
                Row("storm / no storm, c=2", {"rps": 0.9, "p99_ms": 1.2}, ratio=True),
            ],
        ),
        section(
            "email_pipeline",
            [
                Row("commit → SMTP 250", {"events_per_s": 230.5, "p99_ms": 410.0, "events": 1000}),
                Row("· commit → taken by a relay", {"p99_ms": 20.0}),
            ],
        ),
        section(
            "files",
            [
                Row("server idle, after warm-up (baseline)", {"rss_mib": 120.0}),
                Row("upload 8 MiB", {"mib_per_s": 90.0, "growth_mib": 3.0}),
                Row("upload 64 MiB", {"mib_per_s": 110.0, "growth_mib": 4.0}),
                Row("download 8 MiB (direct from storage)", {"mib_per_s": 300.0}),
                Row("download 64 MiB (direct from storage)", {"mib_per_s": 350.0}),
                Row("upload 64 vs 8 MiB: growth difference", {"growth_mib": 1.0}),
                Row("download 64 vs 8 MiB: growth difference", {"growth_mib": 0.5}),
            ],
        ),
        section("realtime", [Row("not run", {"why": "PostgreSQL is not reachable"})]),
    ]


def whole_run() -> Run:
    return Run(sections(), FLOOR)


def info() -> dict[str, Any]:
    return report.meta(Options(), STARTED)
