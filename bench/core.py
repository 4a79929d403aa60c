"""The shapes every benchmark shares: the run options, a row of figures, a benchmark."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

Figure = float | int | str | None


@dataclass(frozen=True)
class Options:
    duration: float = 10.0
    concurrency: int = 32
    warmup: float = 2.0
    only: str | None = None
    out: Path = Path("bench/results")
    client_processes: int = 1
    events: int = 1000
    committers: int = 16


@dataclass(frozen=True)
class Row:
    """One line of a result table; a `ratio` row holds quotients, shown as `1.23x`."""

    case: str
    figures: dict[str, Figure]
    ratio: bool = False


def _no_setup(_opts: Options) -> str:
    return ""


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    notes: Sequence[str]
    run: Callable[[Options], Awaitable[list[Row]]]
    setup: Callable[[Options], str] = _no_setup
    """How the benchmark runs with these options, one line for the report."""

    @classmethod
    def from_module(cls, module: ModuleType) -> Benchmark:
        return cls(
            name=module.NAME,
            title=module.TITLE,
            notes=tuple(getattr(module, "NOTES", ())),
            run=module.run,
            setup=getattr(module, "setup", _no_setup),
        )


@dataclass(frozen=True)
class Section:
    """A benchmark's outcome, as the report prints it."""

    name: str
    title: str
    notes: Sequence[str]
    rows: list[Row] = field(default_factory=list)
    setup: str = ""
