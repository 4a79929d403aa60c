"""Graceful behaviour of a real server process: SIGTERM (as an orchestrator sends it before
replacing a pod) lets the requests in flight finish and closes WebSockets with 1001; a
database or Redis outage is a run of 503 envelopes, and the same process serves again once
it is back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.notifications import sockets
from tests.e2e.processes import BASE_ENV, free_port, running_server
from tests.fakes.tcp_proxy import TcpProxy

IN_FLIGHT = 50
SERVER_ENV = {
    "JWT_SECRET_KEY": "graceful-shutdown-test-key-of-40-chars!!",
    "RATE_LIMIT_AUTH_PER_MINUTE": "1000",
    "LOG_LEVEL": "WARNING",
}
"""A server whose tokens survive the test and whose sign-ups are not rate limited."""
EMAIL, PASSWORD = "drain@example.com", "drain-pass-phrase-9"


async def test_sigterm_during_50_in_flight_requests_loses_none_of_them(tmp_path: Path) -> None:
    with running_server(tmp_path, SERVER_ENV) as server:
        limits = httpx.Limits(max_connections=IN_FLIGHT + 5)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            body = {"email": EMAIL, "password": PASSWORD, "full_name": "D", "terms_accepted": True}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            # Logins hash a password each (argon2id, a core or so at a time): 50 of them
            # keep the server busy for seconds, so most are still in flight at the signal.
            credentials = {"email": EMAIL, "password": PASSWORD}
            logins = [
                asyncio.ensure_future(client.post("/api/v1/auth/login", json=credentials))
                for _ in range(IN_FLIGHT)
            ]
            await asyncio.sleep(0.5)
            finished_before = sum(login.done() for login in logins)
            server.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*logins, return_exceptions=True)
            exit_code = await asyncio.to_thread(server.process.wait, 30)
    assert finished_before < IN_FLIGHT / 2, "the requests were not in flight at the signal"
    statuses = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in responses]
    assert statuses == [200] * IN_FLIGHT
    assert exit_code == 0


@pytest.mark.parametrize("dependency", ["postgresql", "redis"])
async def test_a_dependency_stopped_mid_load_gives_503s_then_200s_without_a_restart(
    tmp_path: Path, dependency: str
) -> None:
    await services.check_postgres()
    await services.check_redis()
    target = make_url(
        services.TEST_DATABASE_URL if dependency == "postgresql" else services.TEST_REDIS_URL
    )
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    try:
        async with services.throwaway_database() as url, services.redis_namespace() as prefix:
            await services.migrate(url)
            database = make_url(await services.as_app_role(url))
            redis = make_url(services.TEST_REDIS_URL)
            if dependency == "postgresql":
                database = database.set(port=proxy.port)
            else:
                redis = redis.set(port=proxy.port)
            env = {
                "DATABASE_URL": database.render_as_string(hide_password=False),
                "REDIS_URL": redis.render_as_string(hide_password=False),
                "REDIS_KEY_PREFIX": prefix,
                "JWT_SECRET_KEY": "outage-test-key-of-forty-characters-!!!!",
                "RATE_LIMIT_API_PER_MINUTE": "100000",
                "LOG_LEVEL": "WARNING",
            }
            with running_server(tmp_path, env) as server:
                outcomes = await _load_through_an_outage(server.url, proxy)
                still_running = server.process.poll() is None
                log = server.lines()
    finally:
        await proxy.stop()
    statuses = [status for status, _ in outcomes]
    assert set(statuses) <= {200, 503}, [ln for ln in log if "unhandled" in ln][:1]
    assert 503 in statuses
    assert statuses[-20:] == [200] * 20
    assert {code for status, code in outcomes if status == 503} == {"SERVICE_UNAVAILABLE"}
    assert still_running


async def _load_through_an_outage(base_url: str, proxy: TcpProxy) -> list[tuple[int, str]]:
    """`GET /tenants/{own}` (a session touch in Redis and a database read each time) from 8
    loops: 1 s up, 2 s with the dependency gone, then up again until 40 more answers came
    back; (status, error code)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        body = {"email": EMAIL, "password": PASSWORD, "full_name": "O", "terms_accepted": True}
        assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
        login = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        headers = {"authorization": f"Bearer {login.json()['data']['access_token']}"}
        me = (await client.get("/api/v1/users/me", headers=headers)).json()["data"]
        path = f"/api/v1/tenants/{me['tenant_id']}"
        outcomes: list[tuple[int, str]] = []
        restored = asyncio.Event()
        after_restore = 0

        async def loop() -> None:
            nonlocal after_restore
            while after_restore < 40:
                response = await client.get(path, headers=headers)
                code = response.json()["error"]["code"] if response.status_code >= 400 else ""
                outcomes.append((response.status_code, code))
                after_restore += restored.is_set()

        loops = [asyncio.ensure_future(loop()) for _ in range(8)]
        await asyncio.sleep(1.0)
        await proxy.cut()
        await asyncio.sleep(2.0)
        await proxy.restore()
        restored.set()
        await asyncio.wait_for(asyncio.gather(*loops), timeout=60)
    return outcomes


async def test_sigterm_closes_open_websockets_with_1001_going_away(tmp_path: Path) -> None:
    with running_server(tmp_path, SERVER_ENV) as server:
        account = await sockets.signed_up(server.url, "socket-drain@example.com")
        async with (
            sockets.connected(server.url, account["access_token"]) as first,
            sockets.connected(server.url, account["access_token"]) as second,
        ):
            assert (await sockets.ask(first, {"type": "ping"}))["type"] == "pong"
            assert (await sockets.ask(second, {"type": "ping"}))["type"] == "pong"
            server.process.send_signal(signal.SIGTERM)
            codes = [await sockets.closed_with(first), await sockets.closed_with(second)]
        exit_code = await asyncio.to_thread(server.process.wait, 30)
    assert codes == [1001, 1001]  # "going away": reconnect, to another replica
    assert exit_code == 0


def test_ctrl_c_to_the_whole_process_group_stops_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches granian's workers too: they stop on their own while the
    server drains them, which must not count as a crash (exit code 1)."""
    env = {"JWT_SECRET_KEY": SERVER_ENV["JWT_SECRET_KEY"], "LOG_LEVEL": "INFO"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=BASE_ENV | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}", process)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output[-2000:]
    assert "Unexpected exit" not in output


def _wait_for_health(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up")
