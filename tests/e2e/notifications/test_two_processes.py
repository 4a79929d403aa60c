"""Two API processes and a worker on one PostgreSQL and one Redis, as in production: a
socket on process A receives what an admin publishes through process B, and a logout
through B closes the session's socket on A (SPEC §3.7: fan-out through Redis pub/sub)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import services
from tests.e2e.notifications.sockets import (
    ADMIN,
    ask,
    call,
    closed_with,
    connected,
    create_admin,
    login,
    notified,
    publish,
    signed_up,
    subscribed,
)
from tests.e2e.processes import BASE_ENV, running_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@dataclass(frozen=True)
class Cluster:
    a: str
    b: str


@contextmanager
def worker(cwd: Path, env: dict[str, str]) -> Iterator[None]:
    with (cwd / "worker.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tessera", "worker"],
            cwd=cwd,
            env=BASE_ENV | env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def cluster(postgres_url: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    await services.migrate(postgres_url)
    env = {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "JWT_SECRET_KEY": "cluster-tests-" + "c" * 40,
        "RATE_LIMIT_ENABLED": "false",
        "OUTBOX_SWEEP_SECONDS": "1",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    create_admin(tmp_path, env)
    with ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            urls.append(stack.enter_context(running_server(tmp_path / name, env)).url)
        stack.enter_context(worker(tmp_path, env))
        yield Cluster(*urls)


async def test_a_socket_on_one_process_receives_what_another_published(
    cluster: Cluster,
) -> None:
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    ann = await signed_up(cluster.a, address)
    admin = (await login(cluster.b, ADMIN))["access_token"]
    async with connected(cluster.a, ann["access_token"]) as socket:
        await subscribed(socket, f"user.{ann['user_id']}", "global")
        note = await publish(cluster.b, admin, user_id=ann["user_id"], title="via B")
        pushed = await notified(socket, "via B")
        assert pushed["channel"] == f"user.{ann['user_id']}"
        assert pushed["data"]["id"] == note["id"]
        await publish(cluster.b, admin, title="to everyone", **{"global": True})
        assert (await notified(socket, "to everyone"))["channel"] == "global"
    titles = await inbox_once_it_holds(cluster.a, ann["access_token"], 3)
    assert titles[-1] == "New sign-in to your account"  # the worker's job, under RLS


async def inbox_once_it_holds(base: str, token: str, count: int) -> list[str]:
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        found = (await call(base, "GET", "/notifications", token)).json()["data"]
        if len(found) >= count:
            return [item["title"] for item in found]
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.1)


async def test_a_logout_on_one_process_closes_the_socket_on_another(cluster: Cluster) -> None:
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    ann = await signed_up(cluster.a, address)
    async with connected(cluster.a, ann["access_token"]) as socket:
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}
        out = await call(cluster.b, "POST", "/auth/logout", ann["access_token"])
        assert out.status_code == 200, out.text
        assert await closed_with(socket, timeout=5) == 1008
