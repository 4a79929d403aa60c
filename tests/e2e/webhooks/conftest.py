"""A running Tessera for the webhook tests: SQLite, embedded jobs, a fake DNS, short retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from dishka import Provider, Scope, provide

from tessera.features.webhooks.application.ports import HostResolver
from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing, Client
from tests.e2e.webhooks.receiver import Receiver

WEBHOOKS = "/api/v1/webhooks"
PUBLIC_ADDRESS = "93.184.216.34"


class StaticResolver:
    """`HostResolver` from a table the test changes at will (DNS that changes its mind)."""

    def __init__(self) -> None:
        self.table: dict[str, Sequence[str]] = {}

    async def addresses(self, host: str, port: int) -> Sequence[str]:
        return list(self.table.get(host, ()))


class FakeDns(Provider):
    def __init__(self, resolver: StaticResolver) -> None:
        super().__init__()
        self._resolver = resolver

    @provide(scope=Scope.APP, override=True)
    def resolver(self) -> HostResolver:
        return self._resolver


@pytest.fixture
def dns() -> StaticResolver:
    return StaticResolver()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


AppFactory = Callable[..., Any]


@pytest.fixture
def make_app(tmp_path: Path, dns: StaticResolver) -> AppFactory:
    """`async with make_app(schedule="1,3", private="true") as client:` on SQLite in
    embedded mode, the outbox swept every second."""

    @asynccontextmanager
    async def start(*, schedule: str = "1,3", private: str = "true") -> AsyncIterator[Client]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
        await services.migrate(url)
        settings = settings_for(
            database_url=url,
            data_dir=str(tmp_path),
            rate_limit_enabled="false",
            jwt_secret_key=SECRET,
            webhook_retry_schedule=schedule,
            webhook_allow_private_targets=private,
            outbox_sweep_seconds="1",
        )
        async with client_for(settings, CheapHashing(), FakeDns(dns)) as client:
            yield client

    return start


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    """Wait until `check()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.1)


async def register_webhook(
    client: Client, headers: dict[str, str], url: str, events: Sequence[str] = ("user.updated",)
) -> dict[str, Any]:
    body = {"url": url, "events": list(events), "description": "test receiver"}
    response = await client.post(WEBHOOKS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def deliveries(client: Client, headers: dict[str, str], webhook: str) -> list[Any]:
    response = await client.get(f"{WEBHOOKS}/{webhook}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])
