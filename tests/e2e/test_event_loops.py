"""Litestar's test client runs the app on an event loop of its own, in another thread; the
test runs on pytest's. The app's container answers on the app's loop (`on_app_loop`) and
refuses the test's at once, even while the app's loop holds it: the lost wake-up that hung
the `admin` fixture of the flag tests (issue 16) is an error on the first try now."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.main.settings import Settings
from tessera.shared.application.event_loop import WrongEventLoop
from tests.e2e.harness import app_settings, on_app_loop
from tests.e2e.identity.conftest import Client, embedded_client, login, register


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with embedded_client(tmp_path, rate_limit_enabled="false") as running:
        yield running


async def test_the_container_refuses_the_tests_loop_while_the_app_holds_it(
    client: Client,
) -> None:
    container = client.app.state.dishka_container
    held, release = threading.Event(), threading.Event()

    async def resolving_a_dependency() -> None:  # as the embedded background does
        async with container.lock:
            held.set()
            await asyncio.to_thread(release.wait)

    client.blocking_portal.start_task_soon(resolving_a_dependency)
    assert await asyncio.to_thread(held.wait, 5)
    try:
        with pytest.raises(WrongEventLoop, match="The dependency container"):
            await asyncio.wait_for(container.get(Settings), 5)
    finally:
        release.set()
    await register(client)
    await login(client)


async def test_the_container_answers_on_the_apps_loop(client: Client, tmp_path: Path) -> None:
    settings = await app_settings(client)
    assert settings.data_dir == str(tmp_path)

    async def loop_of_the_app(_container: object) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert await on_app_loop(client, loop_of_the_app) is not asyncio.get_running_loop()
