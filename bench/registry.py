"""The benchmarks `python -m bench` knows: add a module, then one line here."""

from __future__ import annotations

from bench import (
    account_security,
    email_pipeline,
    failover,
    faults,
    files,
    hashing,
    http_pipeline,
    identity,
    pooler,
    realtime,
    sizing,
    users_list,
)
from bench.core import Benchmark

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark.from_module(http_pipeline),
    Benchmark.from_module(email_pipeline),
    Benchmark.from_module(identity),
    Benchmark.from_module(hashing),
    Benchmark.from_module(faults),
    Benchmark.from_module(failover),
    Benchmark.from_module(pooler),
    Benchmark.from_module(files),
    Benchmark.from_module(realtime),
    Benchmark.from_module(sizing),
    Benchmark.from_module(users_list),
    Benchmark.from_module(account_security),
)


def names() -> list[str]:
    return [benchmark.name for benchmark in BENCHMARKS]


def select(only: str | None) -> list[Benchmark]:
    return [b for b in BENCHMARKS if only is None or b.name == only]
