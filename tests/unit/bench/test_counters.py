"""`bench.counters` reads wrk, redis-benchmark and Redis' INFO as they really print them."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from bench.counters import (
    RedisCount,
    WrkRun,
    calls_in,
    parse_redis_benchmark,
    parse_wrk,
    redis_count,
)
from bench.sizing import lua_script

# wrk 4.1.0 against a server answering 404 to everything.
WRK_WITH_ERRORS = """Running 1s test @ http://127.0.0.1:18765/nothing
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.87ms    3.11ms  29.23ms   92.54%
    Req/Sec     1.70k   474.25     2.20k    70.00%
  Latency Distribution
     50%  697.00us
     75%    2.10ms
     90%    4.09ms
     99%   17.38ms
  1695 requests in 1.00s, 860.74KB read
  Non-2xx or 3xx responses: 1695
Requests/sec:   1688.11
Transfer/sec:    857.24KB
"""

# redis-benchmark 7.0 `-t get,set --csv`.
REDIS_BENCHMARK_CSV = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","57142.86","0.056","0.016","0.055","0.087","0.159","0.247"
"GET","40000.00","0.068","0.024","0.055","0.087","0.183","10.943"
"""


def _stat(calls: int) -> dict[str, object]:
    """One command's entry as redis-py's `info("commandstats")` gives it."""
    return {"calls": calls, "usec": 3 * calls, "usec_per_call": 3.0, "rejected_calls": 0}


def test_wrk_requests_rate_p99_and_errors() -> None:
    assert parse_wrk(WRK_WITH_ERRORS) == WrkRun(1695, 1688.11, 17.38, 1695)
    clean = WRK_WITH_ERRORS.replace("  Non-2xx or 3xx responses: 1695\n", "")
    assert parse_wrk(clean).errors == 0
    sockets = clean.replace(
        "Requests/sec", "  Socket errors: connect 1, read 2, write 0, timeout 4\nRequests/sec"
    )
    assert parse_wrk(sockets).errors == 7
    assert parse_wrk(clean.replace("99%   17.38ms", "99%    1.50s")).p99_ms == 1500.0
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


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


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str | None, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = _answer  # the names http.server dispatches to

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_sends_each_scripted_request_in_turn(recorder: str, tmp_path: Path) -> None:
    requests = [
        ({"Authorization": "Bearer a"}, json.dumps({"full_name": 'Ann "A"'})),
        ({"Authorization": "Bearer b"}, json.dumps({"full_name": "Bob"})),
    ]
    script = tmp_path / "put.lua"
    script.write_text(lua_script("PUT", "/api/v1/users/me", requests))
    subprocess.run(
        ["wrk", "-t1", "-c1", "-d1s", "-s", str(script), recorder],
        check=True,
        capture_output=True,
        timeout=30,
    )
    ann = ("PUT", "/api/v1/users/me", "Bearer a", '{"full_name": "Ann \\"A\\""}')
    bob = ("PUT", "/api/v1/users/me", "Bearer b", '{"full_name": "Bob"}')
    assert set(_Recorder.seen) == {ann, bob}
    # wrk calls the script once before connecting, so the run may start with either
    pairs = zip(_Recorder.seen, _Recorder.seen[1:], strict=False)
    assert all(one != other for one, other in pairs), "one after the other, in turn"
    get = tmp_path / "get.lua"
    get.write_text(lua_script("GET", "/me", [({"Authorization": "Bearer c"}, "")]))
    _Recorder.seen = []
    subprocess.run(
        ["wrk", "-t1", "-c1", "-d1s", "-s", str(get), recorder],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert _Recorder.seen[0] == ("GET", "/me", "Bearer c", "")
