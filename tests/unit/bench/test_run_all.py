"""A whole run measures the floor once, first, and hands that one result to every benchmark;
a run of one benchmark (`--only`) measures none. Fake benchmarks, no servers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bench import __main__ as cli
from bench import faults, files, hashing, identity, pooler, registry, sizing
from bench.core import KNOWN_HEADLINES, Benchmark, Headline, Options, Row
from bench.counters import RedisCount
from bench.load import LoadResult
from bench.smtp_sink import Arrival

from tests.unit.bench import sample


@dataclass
class FakeFloor:
    result: LoadResult = field(default_factory=lambda: sample.FLOOR)
    calls: list[Options] = field(default_factory=list)

    async def __call__(self, opts: Options) -> LoadResult:
        self.calls.append(opts)
        return self.result


@dataclass
class FakeBenchmark:
    """Records the floor each run was given; answers `rps` rows like an HTTP benchmark."""

    name: str
    rps: float
    floors: list[LoadResult | None] = field(default_factory=list)

    async def run(self, opts: Options) -> list[Row]:
        self.floors.append(opts.floor)
        return [Row(f"{self.name}, c={opts.concurrency}", sample.load(self.rps).figures())]

    def benchmark(self) -> Benchmark:
        return Benchmark(
            self.name,
            f"fake {self.name}",
            ("fake",),
            self.run,
            headlines=(Headline(self.name, "rps"),),
        )


async def test_a_whole_run_measures_the_floor_once_and_gives_it_to_every_benchmark() -> None:
    floor = FakeFloor()
    fakes = [FakeBenchmark("first", 2_000.0), FakeBenchmark("second", 500.0)]

    run = await cli.run_all([fake.benchmark() for fake in fakes], Options(), floor)

    assert len(floor.calls) == 1
    assert floor.calls[0].floor is None
    assert run.floor is floor.result
    for fake in fakes:
        assert len(fake.floors) == 1
        assert fake.floors[0] is floor.result
    assert [section.name for section in run.sections] == ["first", "second"]
    assert [section.headlines for section in run.sections] == [
        (Headline("first", "rps"),),
        (Headline("second", "rps"),),
    ]


async def test_a_run_of_one_benchmark_measures_no_shared_floor() -> None:
    floor = FakeFloor()
    fake = FakeBenchmark("alone", 1_000.0)

    run = await cli.run_all([fake.benchmark()], Options(only="alone"), floor)

    assert floor.calls == []
    assert fake.floors == [None]
    assert run.floor is None


async def test_a_floor_already_in_the_options_is_not_measured_again() -> None:
    floor = FakeFloor()
    fake = FakeBenchmark("given", 1_000.0)
    given = sample.load(7_000.0)

    run = await cli.run_all([fake.benchmark()], Options(floor=given), floor)

    assert floor.calls == []
    assert fake.floors == [given]
    assert run.floor is given


def test_python_m_bench_writes_one_report_for_the_registered_benchmarks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    floor = FakeFloor()
    fakes = [FakeBenchmark("fast", 8_000.0), FakeBenchmark("slow", 1_000.0)]
    monkeypatch.setattr(registry, "BENCHMARKS", tuple(fake.benchmark() for fake in fakes))

    status = cli.main(["--out", str(tmp_path), "--concurrency", "4"], measure_floor=floor)

    assert status == 0
    assert len(floor.calls) == 1
    assert floor.calls[0].concurrency == 4
    assert [fake.floors for fake in fakes] == [[floor.result], [floor.result]]
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".json", ".md", ".png"]
    out = capsys.readouterr().out
    assert "| fast | fast, c=4 | req/s | 8,000 | 0.80x |" in out
    assert "| slow | slow, c=4 | req/s | 1,000 | 0.10x |" in out


def test_python_m_bench_only_leaves_the_floor_to_the_benchmark(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    floor = FakeFloor()
    fakes = [FakeBenchmark("fast", 8_000.0), FakeBenchmark("slow", 1_000.0)]
    monkeypatch.setattr(registry, "BENCHMARKS", tuple(fake.benchmark() for fake in fakes))

    status = cli.main(["--out", str(tmp_path), "--only", "slow"], measure_floor=floor)

    assert status == 0
    assert floor.calls == []
    assert [fake.floors for fake in fakes] == [[], [None]]
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".json", ".md"]
    assert "## Summary" not in capsys.readouterr().out


def test_identity_reports_the_round_of_the_median_ratio() -> None:
    rounds = [
        (sample.load(10_000.0), sample.load(4_000.0)),  # 0.40
        (sample.load(14_000.0), sample.load(4_200.0)),  # 0.30
        (sample.load(11_000.0), sample.load(3_500.0)),  # 0.32
    ]

    assert identity._median_round(rounds) is rounds[2]


def test_the_registry_gives_the_known_benchmarks_their_headlines() -> None:
    for benchmark in registry.BENCHMARKS:
        assert benchmark.headlines == KNOWN_HEADLINES[benchmark.name]


def test_identity_rows_match_its_headlines() -> None:
    me, logins = sample.load(2_500.0), sample.load(41.0)
    storm = identity._Storm(sample.load(1_500.0), sample.load(30.0), covered=True)
    comparisons = [identity._Comparison(16, sample.load(2_400.0), storm)]
    baseline = identity._Baseline(2, sample.load(13_000.0), sample.load(8_000.0))

    modes = {"single": me, "Sentinel": sample.load(2_300.0), "Cluster": sample.load(2_100.0)}
    redis_floor = sample.load(2_000.0)
    rows = identity._rows(
        Options(), sample.FLOOR, redis_floor, modes, logins, comparisons, baseline
    )

    assert rows[0].case == "floor GET /health, c=32"
    (
        me_headline,
        modes_headline,
        redis_floor_headline,
        login_headline,
        storm_headline,
        machine_headline,
    ) = KNOWN_HEADLINES["identity"]
    assert [row.case for row in me_headline.rows(rows)] == [
        "tessera GET /users/me, c=32",
        "tessera GET /users/me on Sentinel, c=32",
        "tessera GET /users/me on Cluster, c=32",
    ]
    assert [row.case for row in modes_headline.rows(rows)] == [
        "/users/me / floor",
        "/users/me on Sentinel / floor",
        "/users/me on Cluster / floor",
    ]
    sentinel_ratio = modes_headline.rows(rows)[1].figures["rps"]
    assert sentinel_ratio == pytest.approx(2_300.0 / sample.FLOOR.rps)
    [versus_redis_floor] = redis_floor_headline.rows(rows)
    assert versus_redis_floor.figures["rps"] == pytest.approx(2_500.0 / 2_000.0)
    assert [row.case for row in login_headline.rows(rows)] == ["POST /auth/login, c=8"]
    assert [row.case for row in storm_headline.rows(rows)] == ["storm / no storm, c=16"]
    assert [row.case for row in machine_headline.rows(rows)] == ["hash loop / none (floor), c=2"]


def test_the_files_headlines_match_the_rows_it_writes() -> None:
    def transfer(size: int) -> files._Transfer:
        return files._Transfer(size, 0.5, 0.4, files._Memory(130.0 + size / 8, 131.0, 25))

    cases = [files._Case(size, transfer(size), transfer(size)) for size in files.SIZES_MIB]
    rows = files._rows(120.0, cases)

    found = [[row.case for row in headline.rows(rows)] for headline in KNOWN_HEADLINES["files"]]

    largest = max(files.SIZES_MIB)
    assert found == [
        [f"upload {largest} MiB"],
        [f"download {largest} MiB (direct from storage)"],
        [
            f"upload {largest} vs {min(files.SIZES_MIB)} MiB: growth difference",
            f"download {largest} vs {min(files.SIZES_MIB)} MiB: growth difference",
        ],
    ]


def test_hashing_rows_match_their_headlines() -> None:
    pair = hashing._Pair(sample.load(4_000.0), sample.load(3_000.0))
    outcome = hashing._Outcome(
        "low", sample.load(7.0), pair, sample.load(4.5), pair, sample.load(2.5), pair, pair
    )
    rows = hashing._rows(outcome)
    for headline in KNOWN_HEADLINES["hashing"]:
        assert headline.rows(rows), headline
    shares = [row.figures["share_of_quiet"] for row in rows if "share_of_quiet" in row.figures]
    assert shares == [pytest.approx(4.5 / 7.0), pytest.approx(2.5 / 7.0)]


def test_fault_rows_measure_recovery_from_each_fault_and_match_their_headlines() -> None:
    tally = faults._Tally(started=0.0, back={10.0: 12.5})
    for second, counts in {
        9: {"2xx": 9},
        10: {"2xx": 4, "503": 5},
        11: {"503": 9},
        13: {"2xx": 3, "503": 1},
        14: {"2xx": 9},
        25: {"503": 2},
        26: {"2xx": 9},
    }.items():
        tally.statuses[second] = Counter(counts)
    arrivals = [Arrival(1.0, "<a@x>"), Arrival(2.0, "<a@x>")]
    rows = faults._rows(tally, arrivals, expected=1, waited=1.0)
    redis, postgres = (row.figures for row in rows if " at " in row.case)
    assert redis == {
        "recovered_after_s": 4.0,
        "after_return_s": 1.5,
        "longest_503_run_s": 2.0,
        "seconds_with_503": 3.0,
    }
    assert postgres["recovered_after_s"] == 1.0
    (emails,) = (row.figures for row in rows if row.case.startswith("emails"))
    assert (emails["distinct_delivered"], emails["arrivals"]) == (1.0, 2.0)
    for headline in KNOWN_HEADLINES["faults"]:
        assert headline.rows(rows), headline


def test_pooler_rows_compare_pgbouncer_to_direct() -> None:
    rows = pooler._rows(sample.load(400.0), sample.load(200.0))
    (ratio,) = (row for row in rows if row.ratio)
    assert ratio.figures["rps"] == pytest.approx(0.5)
    for headline in KNOWN_HEADLINES["pooler"]:
        assert headline.rows(rows), headline


def test_the_sizing_headlines_match_the_rows_it_writes() -> None:
    users = [identity.User("a@example.com", "pw-a"), identity.User("b@example.com", "pw-b")]
    routes = [
        Row(
            case.row_name, {"per_core_rps": 1.0, "redis_cmds_per_req": 2.0, "pg_stmts_per_req": 0.0}
        )
        for case in sizing.cases(users, ["token-a", "token-b"])
    ]
    load = RedisCount({"evalsha": 300, "get": 100}, 0.002)
    rows = routes + sizing.redis_rows({"GET": 50_000.0}, load)
    per_core, redis_per_request, pg_per_request, redis_core = KNOWN_HEADLINES["sizing"]
    for headline in (per_core, redis_per_request, pg_per_request):
        assert headline.rows(rows) == routes
    assert [row.figures for row in redis_core.rows(rows)] == [{"cmds_per_cpu_s": 200_000.0}]
