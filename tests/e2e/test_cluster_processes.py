"""Tessera on a Redis Cluster, as production runs it: two `tessera serve` processes and a
worker, configured by `REDIS_CLUSTER_URL` alone, on the three-primary cluster the tests start
(`tests.redis_topologies`). Sessions, their revocation pushed to sockets, WebSocket fan-out
and the job queue all cross processes through the cluster; a cluster that loses a node is a
503, never a 500. (Rate limits across two processes on the cluster:
`test_rate_limits_processes.py`.)
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.e2e.notifications.sockets import (
    ADMIN,
    PASSWORD,
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
from tests.e2e.processes import running_server, tessera_processes
from tests.fakes.smtp_server import FakeSmtpServer
from tests.redis_topologies import ClusterRedis, started

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POLICY_CLOSE = 1008
"""The close code of a socket whose session ended (SPEC §3.7)."""


@dataclass(frozen=True)
class Deployment:
    a: str
    b: str
    smtp: FakeSmtpServer


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def own_cluster() -> Iterator[ClusterRedis]:
    """A cluster of this test's own: it loses a node."""
    with started(ClusterRedis()) as cluster:
        yield cluster


async def environment(
    postgres_url: str, cluster: ClusterRedis, smtp: FakeSmtpServer, tmp_path: Path
) -> dict[str, str]:
    """A migrated database with an admin, and the settings of a process on `cluster`."""
    await services.migrate(postgres_url)
    env = {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "REDIS_CLUSTER_URL": cluster.topology.url,
        "REDIS_KEY_PREFIX": f"test:{uuid.uuid4().hex[:12]}:",
        "JWT_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "RATE_LIMIT_ENABLED": "false",
        "OUTBOX_SWEEP_SECONDS": "1",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    create_admin(tmp_path, env)
    return env


@pytest.fixture
async def deployment(
    postgres_url: str, cluster_redis: ClusterRedis, smtp: FakeSmtpServer, tmp_path: Path
) -> AsyncIterator[Deployment]:
    env = await environment(postgres_url, cluster_redis, smtp, tmp_path)
    with ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            urls.append(stack.enter_context(running_server(tmp_path / name, env)).url)
        stack.enter_context(tessera_processes(tmp_path, env))("worker")
        yield Deployment(urls[0], urls[1], smtp)


async def refreshed(base: str, refresh_token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def refused(response: httpx.Response) -> bool:
    return response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_sessions_rotate_end_on_reuse_and_end_everywhere_across_processes(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    first = await signed_up(a, address)  # registered and signed in through A

    # Rotation: each process takes the refresh token the other issued.
    second = (await refreshed(b, first["refresh_token"])).json()["data"]
    third = (await refreshed(a, second["refresh_token"])).json()["data"]
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert (await call(b, "GET", "/users/me", third["access_token"])).status_code == 200

    # Reuse of a token two rotations old (a stolen copy) ends the session, and its socket.
    async with connected(a, third["access_token"]) as socket:
        await subscribed(socket, f"user.{first['user_id']}")
        assert refused(await refreshed(b, first["refresh_token"]))
        assert await closed_with(socket, timeout=5) == POLICY_CLOSE
    assert refused(await call(a, "GET", "/users/me", third["access_token"]))
    assert refused(await refreshed(a, third["refresh_token"]))

    # Logout everywhere through B ends both sessions, and closes their sockets on A and B.
    phone, laptop = await login(a, address), await login(b, address)
    async with (
        connected(a, phone["access_token"]) as on_a,
        connected(b, laptop["access_token"]) as on_b,
    ):
        await subscribed(on_a, "global")
        await subscribed(on_b, "global")
        ended = await call(b, "POST", "/auth/logout-all", laptop["access_token"])
        assert ended.json()["data"] == {"sessions_ended": 2}
        assert await closed_with(on_a, timeout=5) == POLICY_CLOSE
        assert await closed_with(on_b, timeout=5) == POLICY_CLOSE
    for base, tokens in ((a, laptop), (b, phone)):
        assert refused(await call(base, "GET", "/users/me", tokens["access_token"]))
        assert refused(await refreshed(base, tokens["refresh_token"]))


async def test_a_socket_on_one_process_gets_what_another_published_and_the_worker_mails(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    ann = await signed_up(a, address)
    admin = (await login(b, ADMIN))["access_token"]
    async with connected(a, ann["access_token"]) as socket:
        await subscribed(socket, f"user.{ann['user_id']}", "global")
        note = await publish(b, admin, user_id=ann["user_id"], title="via B")
        pushed = await notified(socket, "via B")
        assert (pushed["channel"], pushed["data"]["id"]) == (f"user.{ann['user_id']}", note["id"])
        await publish(b, admin, title="to everyone", **{"global": True})
        assert (await notified(socket, "to everyone"))["channel"] == "global"

    # The welcome email went through the cluster's job queue to the worker, and out once.
    deadline = asyncio.get_running_loop().time() + 30
    while not (welcome := _welcomes(deployment.smtp, address)):
        assert asyncio.get_running_loop().time() < deadline, "no welcome email"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # a second send, were there one, would have come by now
    assert _welcomes(deployment.smtp, address) == welcome
    assert len(welcome) == 1


def _welcomes(smtp: FakeSmtpServer, address: str) -> list[str]:
    """The Message-ID of each welcome email to `address` received so far."""
    return [
        str(message["Message-ID"])
        for message in list(smtp.messages)
        if message["To"] == address and str(message["Subject"]).startswith("Welcome")
    ]


async def test_a_lost_node_is_a_503_with_retry_after_never_a_500(
    postgres_url: str, own_cluster: ClusterRedis, smtp: FakeSmtpServer, tmp_path: Path
) -> None:
    """A primary without a replica is killed: once the other nodes hold the cluster failed,
    every request that needs Redis answers 503. Then the node a process starts from forgets
    the cluster (as one restarted without its `nodes.conf`): a process started now reads a
    layout that covers no slot, and answers 503 too."""
    env = await environment(postgres_url, own_cluster, smtp, tmp_path)
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    with running_server(tmp_path / "before", env) as before:
        tokens = await login(before.url, ADMIN)
        own_cluster.nodes[1].kill()
        await asyncio.to_thread(own_cluster.wait_until_down)
        start = own_cluster.nodes[0].client
        start.flushall()  # a primary with keys cannot be reset
        start.cluster("RESET", "HARD")
        with running_server(tmp_path / "after", env) as after:
            for base in (before.url, after.url):
                async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                    answers = [
                        await http.post(
                            "/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}
                        ),
                        await http.get("/api/v1/users/me", headers=bearer(tokens)),
                        await http.post(
                            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                        ),
                    ]
                    ready = await http.get("/health/ready")
                for answer in answers:
                    assert answer.status_code == 503, (base, answer.request.url, answer.text)
                    assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
                    assert int(answer.headers["retry-after"]) >= 1
                assert ready.status_code == 503, ready.text


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
