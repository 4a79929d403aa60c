"""`bench.counters` reads redis-benchmark and Redis' INFO as they really print them."""

from __future__ import annotations

import pytest
from bench.counters import RedisCount, calls_in, parse_redis_benchmark, redis_count

# redis-benchmark 7.0 `-t get,set --csv`.
REDIS_BENCHMARK_CSV = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","57142.86","0.056","0.016","0.055","0.087","0.159","0.247"
"GET","40000.00","0.068","0.024","0.055","0.087","0.183","10.943"
"""


def _stat(calls: int) -> dict[str, object]:
    """One command's entry as redis-py's `info("commandstats")` gives it."""
    return {"calls": calls, "usec": 3 * calls, "usec_per_call": 3.0, "rejected_calls": 0}


def test_redis_benchmark_rates_per_test() -> None:
    assert parse_redis_benchmark(REDIS_BENCHMARK_CSV) == {"SET": 57142.86, "GET": 40000.0}
    with pytest.raises(RuntimeError, match="unexpected redis-benchmark output"):
        parse_redis_benchmark("Could not connect to Redis at 127.0.0.1:1: Connection refused\n")


def test_redis_calls_leave_out_the_readers_own_info() -> None:
    stats = {"cmdstat_get": _stat(5), "cmdstat_info": _stat(9), "cmdstat_client|setname": _stat(1)}
    assert calls_in(stats) == {"get": 5, "client|setname": 1}


def test_redis_counts_sum_nodes_and_subtract_to_a_window() -> None:
    cpu = {"used_cpu_sys": 1.5, "used_cpu_user": 2.0, "used_cpu_sys_children": 0.0}
    before = redis_count([({"cmdstat_get": _stat(10)}, cpu)])
    after = redis_count(
        [
            ({"cmdstat_get": _stat(30), "cmdstat_evalsha": _stat(40)}, cpu),
            ({"cmdstat_evalsha": _stat(20)}, {"used_cpu_sys": 0.25, "used_cpu_user": 0.25}),
        ]
    )
    window = after - before
    assert window.calls == {"get": 20, "evalsha": 60}
    assert window.commands == 80
    assert window.cpu_s == pytest.approx(0.5)
    assert window.mix(20) == "evalsha 3.00, get 1.00"
    assert (window + window).calls == {"get": 40, "evalsha": 120}
    assert (before - before) == RedisCount({}, 0.0)
