"""The report: a Markdown table per benchmark on stdout, and `.md` + `.json` files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.core import Figure, Options, Row, Section

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
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "concurrency": opts.concurrency,
        "client_processes": opts.client_processes,
        "events": opts.events,
        "committers": opts.committers,
    }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def markdown(info: dict[str, Any], sections: Sequence[Section]) -> str:
    lines = [f"# Tessera benchmarks, {info['started_utc']}", "", _describe(info)]
    for section in sections:
        lines += ["", f"## {section.name}: {section.title}", ""]
        if section.setup:
            lines += [section.setup, ""]
        lines += _table(section.rows)
        if section.notes:
            lines += ["", *(f"- {note}" for note in section.notes)]
    return "\n".join(lines) + "\n"


def _describe(info: dict[str, Any]) -> str:
    commit = info["commit"] + (" (uncommitted changes)" if info["dirty"] else "")
    return (
        f"Commit {commit or 'unknown'}; Python {info['python']} on {info['platform']}, "
        f"{info['cpus']} CPUs."
    )


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


def write(info: dict[str, Any], sections: Sequence[Section], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / datetime.fromisoformat(info["started_utc"]).strftime("%Y%m%dT%H%M%SZ")
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    md.write_text(markdown(info, sections), encoding="utf-8")
    document = {"meta": info, "benchmarks": [asdict(section) for section in sections]}
    js.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [md, js]
