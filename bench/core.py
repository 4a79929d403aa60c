"""The shapes every benchmark shares: the run options, a row of figures, a benchmark."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.load import LoadResult

Figure = float | int | str | None


@dataclass(frozen=True)
class Options:
    duration: float = 10.0
    concurrency: int = 32
    warmup: float = 2.0
    only: str | None = None
    out: Path = Path("bench/results")
    events: int = 1000
    committers: int = 16
    floor: LoadResult | None = None
    """The floor (bare Litestar, `GET /health`, `concurrency` connections) measured once at
    the start of a whole run, for every benchmark that compares to it. None when the run is
    one benchmark (`--only`): a benchmark that needs the floor then measures its own."""


@dataclass(frozen=True)
class Row:
    """One line of a result table; a `ratio` row holds quotients, shown as `1.23x`."""

    case: str
    figures: dict[str, Figure]
    ratio: bool = False


@dataclass(frozen=True)
class Headline:
    """Figures a benchmark puts in the run's summary: `figure` of each row whose case
    `re.match`es `case` (of the ratio rows if `ratio`, else of the others); with `last`, of
    the last such row only (the largest size, say). A `rps` figure of a row that is not a
    ratio is compared to the floor."""

    case: str
    figure: str
    ratio: bool = False
    last: bool = False

    def rows(self, rows: Sequence[Row]) -> list[Row]:
        found = [
            row
            for row in rows
            if row.ratio == self.ratio
            and re.match(self.case, row.case)
            and row.figures.get(self.figure) is not None
        ]
        return found[-1:] if self.last else found


KNOWN_HEADLINES: dict[str, tuple[Headline, ...]] = {
    "http_pipeline": (Headline("tessera$", "rps"),),
    "identity": (
        Headline("tessera GET /users/me", "rps"),
        Headline(r"/users/me( on \w+)? / floor$", "p99_ms", ratio=True),
        Headline("/users/me / floor with one Redis round trip", "rps", ratio=True),
        Headline("POST /auth/login", "rps"),
        Headline("storm / no storm", "p99_ms", ratio=True),
        Headline("hash loop / none", "p99_ms", ratio=True),
    ),
    "hashing": (
        Headline(r".*logins/s, (server saturated|beside busy loops)", "share_of_quiet"),
        Headline(r".*p99 with / without logins", "p99_ms", ratio=True),
        Headline(r".*floor, beside a hash loop", "p99_ms", ratio=True),
    ),
    "faults": (
        Headline(r".* at \d+ s$", "recovered_after_s"),
        Headline("totals", "500"),
        Headline("emails asked for", "distinct_delivered"),
    ),
    "failover": (
        Headline("GET /users/me", "non_2xx_stretch_s"),
        Headline("GET /users/me", "no_2xx_stretch_s"),
    ),
    "pooler": (Headline("PgBouncer / direct", "rps", ratio=True),),
    "email_pipeline": (
        Headline("commit → SMTP 250", "events_per_s"),
        Headline("commit → SMTP 250", "p99_ms"),
    ),
    "files": (
        Headline(r"upload \d+ MiB$", "mib_per_s", last=True),
        Headline(r"download \d+ MiB", "mib_per_s", last=True),
        Headline(r"(up|down)load .*growth difference", "growth_mib"),
    ),
    "realtime": (
        Headline(r"^floor", "KiB/socket"),
        Headline(r"^\d+ sockets", "KiB/socket"),
        Headline("", "p99 ms"),
        Headline("", "deliveries/s"),
    ),
    "sizing": (
        Headline(r"(GET|PUT|POST) ", "per_core_rps"),
        Headline(r"(GET|PUT|POST) ", "redis_cmds_per_req"),
        Headline(r"(GET|PUT|POST) ", "pg_stmts_per_req"),
        Headline("Redis, Tessera's load", "cmds_per_cpu_s"),
    ),
    "users_list": (
        Headline("tessera GET /users", "rps"),
        Headline("tessera / floor", "rps", ratio=True),
        Headline("tessera / floor", "p99_ms", ratio=True),
    ),
    "account_security": (
        Headline(r"(plain|MFA|passkey): ", "rps"),
        Headline(r"(plain|MFA|passkey): ", "p99_ms"),
        Headline("with audit / without audit", "rps", ratio=True),
        Headline("with audit / without audit", "p99_ms", ratio=True),
    ),
}
"""Headlines of the benchmarks that declare no `HEADLINES` of their own, by name. The
patterns follow the case names those modules write; a pattern that no longer matches drops
the figure from the summary, which then says the benchmark has no headline."""


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
    headlines: Sequence[Headline] = ()
    """What the run's summary shows of it; none: its first figures (see `bench.report`)."""

    @classmethod
    def from_module(cls, module: ModuleType) -> Benchmark:
        name: str = module.NAME
        return cls(
            name=name,
            title=module.TITLE,
            notes=tuple(getattr(module, "NOTES", ())),
            run=module.run,
            setup=getattr(module, "setup", _no_setup),
            headlines=tuple(getattr(module, "HEADLINES", KNOWN_HEADLINES.get(name, ()))),
        )


@dataclass(frozen=True)
class Section:
    """A benchmark's outcome, as the report prints it."""

    name: str
    title: str
    notes: Sequence[str]
    rows: list[Row] = field(default_factory=list)
    setup: str = ""
    headlines: Sequence[Headline] = ()


@dataclass(frozen=True)
class Run:
    """What `python -m bench` measured: the shared floor, if one was, and every section."""

    sections: list[Section]
    floor: LoadResult | None = None
