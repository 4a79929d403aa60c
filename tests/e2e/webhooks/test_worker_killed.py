"""A delivery survives its worker: PostgreSQL, Redis and `tessera worker` processes, one of
them killed while the receiver holds its request (SPEC §3.8, §4)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import CheapHashing
from tests.e2e.processes import tessera_processes
from tests.e2e.webhooks.conftest import deliveries, eventually, register_webhook
from tests.e2e.webhooks.receiver import Receiver
from tests.e2e.webhooks.test_delivery import tenant_admin

pytestmark = pytest.mark.slow


@pytest.fixture
async def environment(postgres_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    """What the API and the worker processes share; leases short so a dead worker's job
    comes back within seconds."""
    await services.migrate(postgres_url)
    return {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_RETRY_SCHEDULE": "1,2",
        "JOB_LEASE_SECONDS": "3",
        "QUEUE_REDELIVERY_SECONDS": "2",
        "OUTBOX_SWEEP_SECONDS": "1",
        "RATE_LIMIT_ENABLED": "false",
        "DATA_DIR": str(tmp_path),
    }


@pytest.fixture
def spawn(
    environment: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    with tessera_processes(tmp_path, environment) as start:
        yield start


async def test_a_delivery_whose_worker_is_killed_is_still_delivered_under_the_same_id(
    environment: dict[str, str],
    spawn: Callable[..., subprocess.Popen[bytes]],
    receiver: Receiver,
) -> None:
    settings = settings_for(**{key.lower(): value for key, value in environment.items()})
    async with client_for(settings, CheapHashing()) as client:
        headers = await tenant_admin(client)
        hook = await register_webhook(client, headers, receiver.url())
        receiver.hold.clear()  # the first request waits for an answer that never comes
        doomed = spawn("worker")
        changed = await client.put("/api/v1/users/me", json={"full_name": "B"}, headers=headers)
        assert changed.status_code == 200, changed.text  # user.updated, fanned out under RLS
        assert await asyncio.to_thread(receiver.arrived.wait, 30), "the worker began sending"
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        receiver.hold.set()
        spawn("worker")
        spawn("scheduler")

        async def delivered() -> bool:
            found = await deliveries(client, headers, hook["id"])
            return bool(found and found[0]["status"] == "succeeded")

        await eventually(delivered, within=60)
        (delivery,) = await deliveries(client, headers, hook["id"])
    first, second = receiver.hits[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["webhook_id"]
    assert first.body == second.body
    assert delivery["response_code"] == 200
    assert (delivery["event"], delivery["attempts"]) == ("user.updated", 1)
