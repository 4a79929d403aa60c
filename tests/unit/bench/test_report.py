"""The whole run's report: the summary with ratios to the floor, the Markdown, the chart."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from bench import report
from bench.core import Headline, Row, Run, Section
from matplotlib import image

from tests.unit.bench import sample

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _line(lines: list[report.Line], benchmark: str, case: str, figure: str) -> report.Line:
    [found] = [
        line
        for line in lines
        if (line.benchmark, line.case, line.figure) == (benchmark, case, figure)
    ]
    return found


def test_the_summary_divides_requests_per_second_by_the_runs_floor() -> None:
    lines = report.summary(sample.whole_run())

    tessera = _line(lines, "http_pipeline", "tessera", "rps")
    assert tessera.vs_floor == pytest.approx(0.5)  # the run's floor, not its own 11,000
    me = _line(lines, "identity", "tessera GET /users/me, c=32", "rps")
    assert me.vs_floor == pytest.approx(0.25)
    login = _line(lines, "identity", "POST /auth/login, c=8", "rps")
    assert login.vs_floor == pytest.approx(0.0041)


def test_figures_other_than_requests_per_second_have_no_floor_ratio() -> None:
    lines = report.summary(sample.whole_run())

    email = _line(lines, "email_pipeline", "commit → SMTP 250", "events_per_s")
    assert (email.value, email.vs_floor) == (230.5, None)
    storm = _line(lines, "identity", "storm / no storm, c=16", "p99_ms")
    assert (storm.ratio, storm.vs_floor) == (True, None)
    growth = _line(lines, "files", "upload 64 vs 8 MiB: growth difference", "growth_mib")
    assert growth.vs_floor is None


def test_the_summary_picks_the_named_headlines_only() -> None:
    lines = report.summary(sample.whole_run())

    by_benchmark = [(line.benchmark, line.case, line.figure) for line in lines]
    assert ("http_pipeline", "floor", "rps") not in by_benchmark  # its own floor is no headline
    assert ("files", "upload 8 MiB", "mib_per_s") not in by_benchmark  # the largest size only
    assert ("files", "upload 64 MiB", "mib_per_s") in by_benchmark
    assert ("files", "download 64 MiB (direct from storage)", "mib_per_s") in by_benchmark
    assert ("realtime", "not run", "") in by_benchmark
    [not_run] = [line for line in lines if line.benchmark == "realtime"]
    assert not_run.value == "PostgreSQL is not reachable"


def test_a_benchmark_naming_no_headline_shows_its_requests_per_second() -> None:
    rows = [
        Row("floor", sample.load(9_000.0).figures()),
        Row("thing, c=4", sample.load(1_000.0).figures()),
        Row("thing / floor", {"rps": 0.11}, ratio=True),
    ]
    run = Run([Section("thing", "a thing", (), rows)], sample.FLOOR)

    [line] = report.summary(run)

    assert (line.case, line.figure) == ("thing, c=4", "rps")
    assert line.vs_floor == pytest.approx(0.1)


def test_a_benchmark_without_requests_per_second_shows_its_first_figure() -> None:
    rows = [Row("sockets", {"KiB/socket": 42.5, "p99 ms": 3.0})]
    run = Run([Section("sockets", "sockets", (), rows)], sample.FLOOR)

    assert report.summary(run) == [report.Line("sockets", "sockets", "KiB/socket", 42.5)]


def test_a_headline_that_matches_nothing_says_so() -> None:
    rows = [Row("renamed case", {"rps": 1.0})]
    run = Run([Section("x", "x", (), rows, "", (Headline("old case", "rps"),))], sample.FLOOR)

    assert report.summary(run) == [report.Line("x", "no headline figure found", "", None)]


def test_the_markdown_has_the_machine_the_summary_the_floor_and_every_table() -> None:
    info = sample.info()

    text = report.markdown(info, sample.whole_run())

    assert text.startswith("# Tessera benchmarks, 2026-12-02T05:00:00+00:00\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[:3] == [
        "## Machine",
        "## Summary",
        "## floor: bare Litestar `GET /health` under granian, measured once for the run",
    ]
    assert [heading.split(":")[0] for heading in headings[3:]] == [
        "## http_pipeline",
        "## identity",
        "## email_pipeline",
        "## files",
        "## realtime",
    ]
    assert f"| cores | {info['cpus']}" in text
    assert f"| Python | {info['python']} (" in text
    assert "| commit | " in text
    assert "| http_pipeline | tessera | req/s | 5,000 | 0.50x |" in text
    assert "| identity | tessera GET /users/me, c=32 | req/s | 2,500 | 0.25x |" in text
    assert "| identity | POST /auth/login, c=8 | req/s | 41.00 | 0.0041x |" in text
    assert "| identity | storm / no storm, c=16 | p99 ms | 1.80x | ratio of its own |" in text
    assert (
        "| email_pipeline | commit → SMTP 250 | events/s | 230.50 | no floor counterpart |" in text
    )
    assert "| realtime | not run |  | PostgreSQL is not reachable |  |" in text
    assert "| floor GET /health, c=32 | 10,000 |" in text
    assert "![Headline requests/s relative to the floor](20261202T050000Z.png)" in text


def test_a_run_of_one_benchmark_has_neither_summary_nor_chart(tmp_path: Path) -> None:
    run = Run(sample.sections()[:1])

    text = report.markdown(sample.info(), run)
    written = report.write(sample.info(), run, tmp_path)

    assert "## Summary" not in text
    assert ".png" not in text
    assert [path.suffix for path in written] == [".md", ".json"]
    assert "## http_pipeline: " in text


def test_write_saves_the_markdown_the_json_and_the_chart_it_links(tmp_path: Path) -> None:
    info = sample.info()

    md, js, png = report.write(info, sample.whole_run(), tmp_path)

    assert (md.name, js.name, png.name) == (
        "20261202T050000Z.md",
        "20261202T050000Z.json",
        "20261202T050000Z.png",
    )
    assert f"]({png.name})" in md.read_text(encoding="utf-8")
    document = json.loads(js.read_text(encoding="utf-8"))
    assert document["floor"]["rps"] == sample.FLOOR_RPS
    tessera = next(line for line in document["summary"] if line["case"] == "tessera")
    assert tessera["vs_floor"] == pytest.approx(0.5)
    assert document["benchmarks"][0]["name"] == "http_pipeline"


def test_the_chart_is_a_real_png_drawn_by_matplotlib(tmp_path: Path) -> None:
    *_, png = report.write(sample.info(), sample.whole_run(), tmp_path)

    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 800
    assert height > 300
    assert b"matplotlib" in data  # the Software text chunk matplotlib writes
    assert len(data) > 20_000
    pixels = image.imread(png)
    assert pixels.shape[:2] == (height, width)
    colours = {tuple(pixel) for pixel in pixels.reshape(-1, pixels.shape[-1])[::7].tolist()}
    assert len(colours) > 50  # bars, text and antialiasing, not a blank canvas
