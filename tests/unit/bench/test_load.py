"""`bench.load` drives the real wrk with bench/lua/requests.lua and reads what its `done()`
prints: requests sent in turn, exactly as given, and every answer that is not 2xx counted."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from bench.load import LoadSpec, Request, WrkRun, bearer, parse_summary, run_load, wrk

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")

SUMMARY = (
    'wrk-summary {"requests":1200,"duration_us":2000000,"connect":0,"read":3,"write":0,'
    '"timeout":1,"statuses":{"404":200,"503":50},"p50_us":640,"p90_us":2700,'
    '"p99_us":5600,"cpu_s":0.25}'
)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 with a small body, 404 to `/missing`; records what it was sent."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    seen: ClassVar[list[tuple[str, str, str | None, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST = _answer  # the names http.server dispatches to

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


def test_the_summary_line_gives_requests_errors_by_kind_and_status_and_percentiles() -> None:
    run = parse_summary(f"Running 2s test @ http://127.0.0.1:1\n...\n{SUMMARY}\n")
    assert run == WrkRun(
        requests=1200,
        duration_s=2.0,
        errors={"read": 3, "timeout": 1, "HTTP 404": 200, "HTTP 503": 50},
        p50_ms=0.64,
        p90_ms=2.7,
        p99_ms=5.6,
        cpu_s=0.25,
    )
    assert run.ok == 950
    assert run.rps == 475.0
    assert run.error_count == 254


def test_no_answer_means_no_percentiles_and_no_summary_is_refused() -> None:
    silent = SUMMARY.replace('"requests":1200', '"requests":0').replace(
        '"statuses":{"404":200,"503":50}', '"statuses":{}'
    )
    run = parse_summary(silent)
    assert (run.ok, run.p99_ms, run.rps) == (0, None, 0.0)
    with pytest.raises(RuntimeError, match="no summary line"):
        parse_summary("unable to connect to 127.0.0.1:1 Connection refused")


@needs_wrk
async def test_wrk_sends_each_request_in_turn_exactly_as_given(recorder: str) -> None:
    rename = Request.json("/me", {"full_name": 'Ann "A" \\ Émile'}, method="PUT", token="a")
    read = Request("/me?page=1&page_size=20", headers=bearer("b"))
    run = await wrk(recorder, [rename, read], connections=1, seconds=1)

    ann = ("PUT", "/me", "Bearer a", '{"full_name":"Ann \\"A\\" \\\\ Émile"}')
    bob = ("GET", "/me?page=1&page_size=20", "Bearer b", "")
    assert set(_Recorder.seen) == {ann, bob}
    pairs = zip(_Recorder.seen, _Recorder.seen[1:], strict=False)
    assert all(one != other for one, other in pairs), "one after the other, in turn"
    assert run.errors == {}
    assert run.ok == run.requests > 0
    assert run.p99_ms is not None


@needs_wrk
async def test_answers_that_are_not_2xx_are_errors_by_status(recorder: str) -> None:
    clock_reads: list[float] = []

    def clock() -> float:
        clock_reads.append(1.0)
        return float(len(clock_reads))  # one second more at each read

    spec = LoadSpec(
        recorder,
        [Request("/found"), Request("/missing")],
        concurrency=2,
        duration=1,
        warmup=0,
        cpu_clocks={"server": clock},
    )
    result = await run_load(spec)

    # A request still in flight when wrk stops reached the server but is not counted.
    missing = sum(1 for _, path, _, _ in _Recorder.seen if path == "/missing")
    found = len(_Recorder.seen) - missing
    assert set(result.error_kinds) == {"HTTP 404"}
    assert missing - 2 <= result.error_kinds["HTTP 404"] == result.errors <= missing
    assert found - 2 <= result.ok <= found
    assert set(result.cpu) == {"client", "server"}
    assert result.cpu["server"] > 0
