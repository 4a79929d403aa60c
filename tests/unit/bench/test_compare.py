"""`bench.compare` reads wrk's report and drives it with every token in turn."""

from __future__ import annotations

import pytest
from bench.compare import Sample, parse_wrk, tokens_script

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:40001/api/v1/users/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms  512.00us  12.40ms   91.00%
    Req/Sec    10.02k   300.00     10.50k    80.00%
  Latency Distribution
     50%    3.10ms
     75%    3.40ms
     90%    3.80ms
     99%  850.00us
  100200 requests in 10.00s, 40.10MB read
Requests/sec:  10019.87
Transfer/sec:      4.01MB
"""


def test_requests_per_second_and_the_99th_percentile_in_milliseconds() -> None:
    assert parse_wrk(WRK_OUTPUT) == Sample(rps=10019.87, p99_ms=0.85)
    seconds = WRK_OUTPUT.replace("99%  850.00us", "99%    1.20s")
    assert parse_wrk(seconds).p99_ms == pytest.approx(1200.0)


def test_a_run_with_errors_or_no_figures_is_refused() -> None:
    failed = WRK_OUTPUT.replace("Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec")
    with pytest.raises(RuntimeError, match="errors under load"):
        parse_wrk(failed)
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_the_script_cycles_through_every_token() -> None:
    script = tokens_script(["a", "b"], "/api/v1/users/me")
    assert 'local tokens = {"a", "b"}' in script
    assert "i = i % #tokens + 1" in script
    assert '"Bearer " .. tokens[i]' in script
