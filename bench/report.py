"""The report: Markdown on stdout, and `.md` + `.json` files (+ a `.png` chart) under `out`.

One report per run: the machine, then, when the run measured the floor once for every
benchmark (a whole run, no `--only`), a summary of each benchmark's headline figures with
requests/s as a ratio to that floor and a chart of those ratios, the floor's own table, and
every benchmark's tables.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import chart
from bench.core import Figure, Headline, Options, Row, Run, Section
from bench.load import LoadResult

LABELS = {
    "rps": "req/s",
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p99_ms": "p99 ms",
    "ok": "ok",
    "errors": "errors",
    "client_cpu": "client CPU",
    "server_cpu": "server CPU",
    "client_cpu_ms_per_req": "client CPU ms/req",
    "server_cpu_ms_per_req": "server CPU ms/req",
    "other_cpu": "other CPU",
    "error_kinds": "error kinds",
    "events_per_s": "events/s",
    "commits_per_s": "commits/s",
    "max_ms": "max ms",
    "events": "events",
    "emails": "emails",
    "missing": "missing",
    "duplicates": "duplicates",
    "worker_cpu": "worker CPU",
    "worker_cpu_ms_per_event": "worker CPU ms/event",
    "bench_cpu": "bench CPU",
    "rss_mib": "RSS MiB",
    "mib_per_s": "MiB/s",
    "seconds": "s",
    "server_cpu_s": "server CPU s",
    "peak_rss_mib": "peak RSS MiB",
    "growth_mib": "growth MiB",
    "hwm_mib": "peak (HWM) MiB",
    "hwm_growth_mib": "growth (HWM) MiB",
    "samples": "samples",
}
"""Column headings by figure key. A table has the columns its rows use, in first-use order,
so each benchmark keeps its own set."""


def meta(opts: Options, started: datetime) -> dict[str, Any]:
    return {
        "started_utc": started.isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": _usable_cpus(),
        "cpu_quota": _cpu_quota(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "memory_gib": _memory_gib(),
        "load_average": _load_average(),
        "versions": {name: _version(name) for name in ("granian", "litestar", "tessera")},
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "concurrency": opts.concurrency,
        "events": opts.events,
        "committers": opts.committers,
    }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def _usable_cpus() -> int | None:
    """The cores this process may run on (a container or `taskset` can narrow them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cpu_quota() -> float | None:
    """Cores' worth of CPU time the cgroup (v2) allows per period; None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first `name: value` line of a /proc file (Linux), if any."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _memory_gib() -> float | None:
    total = _proc_field("/proc/meminfo", "MemTotal")  # "16318480 kB"
    return None if total is None else round(int(total.split()[0]) / 1024**2, 1)


def _load_average() -> list[float] | None:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# The summary


FLOOR_CASE = "floor GET /health"
NO_FLOOR = "no floor counterpart"


@dataclass(frozen=True)
class Line:
    """One line of the summary: a headline figure and, for requests/s, its ratio to the floor."""

    benchmark: str
    case: str
    figure: str
    """The figure's key in its row (`rps`, `events_per_s`, ...); empty when none was found."""
    value: Figure
    ratio: bool = False
    """`value` is a quotient of the benchmark's own (a ratio row), not a measurement."""
    vs_floor: float | None = None
    """`value` / the floor's requests/s, for a requests/s figure when the run has a floor."""


def summary(run: Run) -> list[Line]:
    """Each section's headline figures, in order; a section without one gets a line saying
    why (not run, or no figure matched)."""
    floor_rps = run.floor.rps if run.floor is not None else None
    lines: list[Line] = []
    for section in run.sections:
        found = _headlines(section, floor_rps)
        lines += found or [_nothing(section)]
    return lines


def _headlines(section: Section, floor_rps: float | None) -> list[Line]:
    lines = []
    for headline in section.headlines or _fallback(section.rows):
        for row in headline.rows(section.rows):
            value = row.figures[headline.figure]
            compared = headline.figure == "rps" and not row.ratio and floor_rps
            lines.append(
                Line(
                    benchmark=section.name,
                    case=row.case,
                    figure=headline.figure,
                    value=value,
                    ratio=row.ratio,
                    vs_floor=_quotient(value, floor_rps) if compared else None,
                )
            )
    return lines


def _fallback(rows: Sequence[Row]) -> list[Headline]:
    """For a benchmark that names no headline: the requests/s of every row that has one (the
    floor's aside), else the first number of its first row."""
    measured = [row for row in rows if not row.ratio and not row.case.startswith("floor")]
    if any("rps" in row.figures for row in measured):
        return [Headline("(?!floor)", "rps")]
    for row in measured[:1]:
        for key, value in row.figures.items():
            if isinstance(value, int | float):
                return [Headline(_literal(row.case), key)]
    return []


def _literal(case: str) -> str:
    return re.escape(case) + "$"


def _nothing(section: Section) -> Line:
    for row in section.rows:
        reasons = [value for value in row.figures.values() if isinstance(value, str)]
        if row.case == "not run" and reasons:
            return Line(section.name, "not run", "", reasons[0])
    return Line(section.name, "no headline figure found", "", None)


def _quotient(top: Figure, bottom: float | None) -> float | None:
    if not isinstance(top, int | float) or not bottom:
        return None
    return top / bottom


# Markdown


def markdown(info: dict[str, Any], run: Run) -> str:
    lines = [f"# Tessera benchmarks, {info['started_utc']}", "", *_machine(info)]
    if run.floor is not None:
        lines += ["", *_summary(info, run.floor, summary(run))]
        lines += ["", *_floor_section(info, run.floor)]
    for section in run.sections:
        lines += ["", f"## {section.name}: {section.title}", ""]
        if section.setup:
            lines += [section.setup, ""]
        lines += _table(section.rows)
        if section.notes:
            lines += ["", *(f"- {note}" for note in section.notes)]
    return "\n".join(lines) + "\n"


def _machine(info: dict[str, Any]) -> list[str]:
    commit = info["commit"] + (" (uncommitted changes)" if info["dirty"] else "")
    cores = f"{info['cpus']}"
    if info.get("cpus_usable") not in (None, info["cpus"]):
        cores += f", {info['cpus_usable']} usable by this process"
    if info.get("cpu_quota") is not None:
        cores += f", cgroup quota {info['cpu_quota']:g} cores"
    if info.get("cpu_model"):
        cores += f" ({info['cpu_model']})"
    versions = ", ".join(
        f"{name} {version}" for name, version in info.get("versions", {}).items() if version
    )
    load = info.get("load_average")
    facts = [
        ("commit", commit or "unknown"),
        ("cores", cores),
        ("memory", f"{info['memory_gib']:g} GiB" if info.get("memory_gib") else "unknown"),
        ("load average at start (1, 5, 15 min)", ", ".join(map(str, load)) if load else "unknown"),
        ("Python", f"{info['python']} ({info.get('python_implementation', '?')})"),
        ("platform", info["platform"]),
        ("versions", versions or "unknown"),
        (
            "options",
            f"{info['warmup_s']:g} s warm-up, {info['duration_s']:g} s measured, "
            f"{info['concurrency']} connections (wrk, one thread); {info['events']} events, "
            f"{info['committers']} committers",
        ),
    ]
    return [
        "## Machine",
        "",
        _line(["", ""]),
        _line(["---", "---"]),
        *(_line([name, value]) for name, value in facts),
    ]


def _summary(info: dict[str, Any], floor: LoadResult, lines: Sequence[Line]) -> list[str]:
    out = [
        "## Summary",
        "",
        f"The floor, a bare Litestar app answering `GET /health` under granian (one worker, "
        f"as Tessera runs), was measured once at the start of this run: "
        f"{_cell(floor.rps, ratio=False)} req/s at {info['concurrency']} connections "
        f"(p99 {_cell(floor.p99_ms, ratio=False)} ms). Each requests/s below is divided by it: "
        f"1.00x is as fast as the floor on this machine, 0.50x half as fast.",
        "",
    ]
    if chart_points(lines):
        out += [f"![Headline requests/s relative to the floor]({chart_name(info)})", ""]
    out += [
        _line(["benchmark", "case", "figure", "value", "vs floor"]),
        _line(["---", "---", "---", "---:", "---:"]),
    ]
    for line in lines:
        label = LABELS.get(line.figure, line.figure)
        value = _cell(line.value, ratio=line.ratio)
        if line.vs_floor is not None:
            versus = chart.times(line.vs_floor)
        elif line.figure:
            versus = "ratio of its own" if line.ratio else NO_FLOOR
        else:
            versus = ""
        out.append(_line([line.benchmark, line.case, label, value, versus]))
    out += [
        "",
        "- `vs floor` is given for requests/s only: the floor answers HTTP requests and "
        "nothing else, so events/s, MiB/s, memory and latencies have no counterpart in it. "
        "A requests/s measured at another concurrency than the floor's (logins, say) is "
        "still divided by the floor's, as a cost in floor requests.",
        "- A `ratio of its own` value is a quotient the benchmark computes between two of its "
        "cases (see its notes), not a comparison with the floor. Figures only, nothing is "
        "checked.",
    ]
    return out


def _floor_section(info: dict[str, Any], floor: LoadResult) -> list[str]:
    c = info["concurrency"]
    return [
        "## floor: bare Litestar `GET /health` under granian, measured once for the run",
        "",
        f"Closed loop, {c} keep-alive connections (wrk, one thread), {info['warmup_s']:g} s "
        f"warm-up then {info['duration_s']:g} s measured; before any other benchmark started.",
        "",
        *_table([Row(f"{FLOOR_CASE}, c={c}", floor.figures())]),
        "",
        "- Benchmarks that compare to the floor use this measurement, except where their table "
        "shows a floor row of their own, measured next to the case it is compared with.",
    ]


def chart_points(lines: Sequence[Line]) -> list[chart.Point]:
    """The summary's requests/s compared to the floor, for the chart."""
    return [
        chart.Point(f"{line.benchmark}: {line.case}", float(line.value), line.vs_floor)
        for line in lines
        if line.vs_floor is not None and isinstance(line.value, int | float)
    ]


def _table(rows: Sequence[Row]) -> list[str]:
    keys = list(dict.fromkeys(key for row in rows for key in row.figures))
    header = ["case", *(LABELS.get(key, key) for key in keys)]
    lines = [_line(header), _line(["---"] + ["---:"] * len(keys))]
    for row in rows:
        cells = [_cell(row.figures.get(key), ratio=row.ratio) for key in keys]
        lines.append(_line([row.case, *cells]))
    return lines


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Figure, *, ratio: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if ratio:
        return f"{value:.2f}x"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"


# Files


def stem(info: dict[str, Any]) -> str:
    """The reports' file name without its suffix: the start, `20261202T044130Z`."""
    return datetime.fromisoformat(info["started_utc"]).strftime("%Y%m%dT%H%M%SZ")


def chart_name(info: dict[str, Any]) -> str:
    return f"{stem(info)}.png"


def write(info: dict[str, Any], run: Run, out: Path) -> list[Path]:
    """The `.md` and `.json` reports, and the `.png` chart when the summary has ratios to
    the floor (the Markdown links it by its name, next to it)."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{stem(info)}.md", out / f"{stem(info)}.json"
    md.write_text(markdown(info, run), encoding="utf-8")
    lines = summary(run) if run.floor is not None else []
    document = {
        "meta": info,
        "floor": None if run.floor is None else asdict(run.floor) | {"rps": run.floor.rps},
        "summary": [asdict(line) for line in lines],
        "benchmarks": [asdict(section) for section in run.sections],
    }
    js.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written = [md, js]
    if run.floor is not None and (points := chart_points(lines)):
        png = out / chart_name(info)
        chart.render(
            points, png, floor_rps=run.floor.rps, subtitle=_chart_subtitle(info, run.floor)
        )
        written.append(png)
    return written


def _chart_subtitle(info: dict[str, Any], floor: LoadResult) -> str:
    commit = info["commit"] + ("+" if info["dirty"] else "")
    return (
        f"floor {floor.rps:,.0f} req/s at c={info['concurrency']}; {info['started_utc']}, "
        f"commit {commit or 'unknown'}, {info['cpus']} CPUs, Python {info['python']}"
    )
