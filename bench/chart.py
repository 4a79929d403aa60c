"""The run's chart: headline requests/s relative to the floor, as a PNG.

matplotlib's object API on the Agg canvas: no pyplot, no global state, no display needed.
One horizontal bar per figure on a log scale (a login is thousands of times dearer than a
`GET`), the floor itself as the first bar at 1x, each bar labelled with its ratio and rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as Canvas
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

WIDTH_IN = 10.0
BAR_IN = 0.42
"""Height per bar, inches."""
DPI = 120
FLOOR_COLOUR = "#9e9e9e"
FASTER_COLOUR = "#2e7d32"
SLOWER_COLOUR = "#1f77b4"


@dataclass(frozen=True)
class Point:
    """A requests/s figure and its ratio to the floor's."""

    label: str
    rps: float
    vs_floor: float


def render(points: Sequence[Point], path: Path, *, floor_rps: float, subtitle: str = "") -> Path:
    """Draw `points` after a bar for the floor itself, save the PNG at `path`, return it."""
    if not points:
        raise ValueError("nothing to chart: no requests/s compared to the floor")
    bars = [Point("floor: bare Litestar GET /health", floor_rps, 1.0), *points]
    ratios = [max(bar.vs_floor, 1e-6) for bar in bars]
    low = 10 ** math.floor(math.log10(min(ratios) / 1.5))
    high = 10 ** math.ceil(math.log10(max(ratios) * 1.5)) * 3  # room for the labels

    figure = Canvas(figsize=(WIDTH_IN, 1.6 + BAR_IN * len(bars)), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_xlim(low, high)
    rows = range(len(bars))
    colours = [FLOOR_COLOUR] + [
        FASTER_COLOUR if bar.vs_floor >= 1 else SLOWER_COLOUR for bar in bars[1:]
    ]
    axes.barh(rows, [ratio - low for ratio in ratios], left=low, color=colours, height=0.6)
    axes.axvline(1.0, color="#424242", linestyle="--", linewidth=1)
    for row, (bar, ratio) in enumerate(zip(bars, ratios, strict=True)):
        axes.annotate(
            f"{times(bar.vs_floor)}  ({bar.rps:,.0f} req/s)",
            xy=(ratio, row),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    axes.set_yticks(list(rows), [_plain(bar.label) for bar in bars], fontsize=9)
    axes.invert_yaxis()
    decades = [10.0**power for power in range(round(math.log10(low)), round(math.log10(high)) + 1)]
    axes.xaxis.set_major_locator(FixedLocator(decades))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}x"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("requests/s relative to the floor (log scale; 1x = the floor)")
    axes.grid(axis="x", which="major", color="#e0e0e0")
    axes.set_axisbelow(True)
    axes.set_title("Tessera: headline requests/s vs the floor measured in the same run")
    if subtitle:  # under the axis label
        axes.annotate(
            _plain(subtitle),
            xy=(0.5, 0.0),
            xycoords=axes.xaxis.label,
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color="#616161",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


def times(quotient: float) -> str:
    """A ratio as `0.52x`; two significant digits below 0.1 (`0.0041x`), so none reads 0."""
    return f"{quotient:.2f}x" if quotient >= 0.1 else f"{quotient:.2g}x"


def _plain(text: str) -> str:
    """Text as written: a `$` would otherwise start matplotlib's mathtext."""
    return text.replace("$", r"\$")
