"""Two server processes, one Redis: together they let exactly the limit through (SPEC §3.10),
on a single Redis server and on a Redis Cluster.

Each process is a separate granian server running `tests/e2e/ratelimit_app.py`; they share
nothing but the Redis key prefix, as two Tessera API replicas would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import BASE_ENV, free_port
from tests.redis_topologies import redis_for, settings_of

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 100
REQUESTS_PER_SERVER = 100


@contextmanager
def granian_servers(count: int, env: dict[str, str], logs: Path) -> Iterator[list[str]]:
    """Start `count` servers at once; stop them all (and their workers) whatever happens."""
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for number in range(count):
            started.append(_start(env, logs / f"server-{number}.log"))
        for url, process, log in started:
            _wait_until_up(url, process, log)
        yield [url for url, _, _ in started]
    finally:
        for _, process, _ in started:
            _stop(process)


def _start(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes], Path]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        "tests.e2e.ratelimit_app:create",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=BASE_ENV | env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its worker stops with it
        )
    return f"http://127.0.0.1:{port}", process, log


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"server did not come up:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


async def _hammer(url: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS_PER_SERVER)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        calls = (client.get("/api/v1/probe") for _ in range(REQUESTS_PER_SERVER))
        return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("mode", ["redis", "cluster"])
async def test_two_server_processes_let_exactly_the_limit_through(
    request: pytest.FixtureRequest, mode: str, tmp_path: Path
) -> None:
    async with redis_for(request, mode) as (topology, prefix):
        env = {name.upper(): value for name, value in settings_of(topology).items()} | {
            "REDIS_KEY_PREFIX": prefix,
            "RATE_LIMIT_API_PER_MINUTE": str(LIMIT),
            "DATA_DIR": str(tmp_path / "var"),
            "PYTHONPATH": str(ROOT),
        }
        with granian_servers(2, env, tmp_path) as urls:
            answers = await asyncio.gather(*(_hammer(url) for url in urls))
    responses = [response for server in answers for response in server]
    allowed = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    per_server = [sum(r.status_code == 200 for r in server) for server in answers]
    # Each process answered all its requests, and between them exactly LIMIT got through:
    # whichever process refused had to see the other's hits in Redis.
    assert len(allowed) == LIMIT, f"allowed per server: {per_server}"
    assert len(refused) == 2 * REQUESTS_PER_SERVER - LIMIT
    assert {r.json()["error"]["code"] for r in refused} == {"RATE_LIMIT_EXCEEDED"}
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in allowed) == list(range(LIMIT))
