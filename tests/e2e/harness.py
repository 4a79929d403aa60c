"""Builds the real application around a container, as `tessera serve` does, for one test."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from dishka import AsyncContainer, Provider
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp

from tessera.features.jobs.adapters.taskiq_schedules import ScheduleLeader
from tessera.main.ioc import make_container
from tessera.main.settings import Settings, load_settings
from tessera.main.web import create_app
from tessera.shared.application.storage import FileStorage

T = TypeVar("T")


def settings_for(**env: str) -> Settings:
    """Settings from these values alone; local files (email outbox) go to a fresh folder."""
    env.setdefault("data_dir", tempfile.mkdtemp(prefix="tessera-test-"))
    return load_settings({key.upper(): value for key, value in env.items()}, dotenv_path=None)


@asynccontextmanager
async def client_for(
    settings: Settings, *overrides: Provider, routes: Sequence[Any] = ()
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_container(settings, *overrides), settings)
    for route in routes:
        app.register(route)
    async with AsyncTestClient(app, base_url="http://tessera.test") as client:
        yield client


async def on_app_loop(
    client: AsyncTestClient[Any], work: Callable[[AsyncContainer], Awaitable[T]]
) -> T:
    """`work(container)`, run on the app's own event loop, and its result.

    The test client runs the app (its startup, requests and background) on an event loop of
    its own, in another thread; the test runs on pytest's. Whatever the app's container
    makes belongs to the app's loop and refuses the test's (`WrongEventLoop`, see
    `tessera.shared.application.event_loop`): ask the container, and use what it gives,
    inside `work`."""
    container: AsyncContainer = client.app.state.dishka_container
    return await asyncio.to_thread(client.blocking_portal.call, work, container)


async def app_settings(client: AsyncTestClient[Any]) -> Settings:
    """The settings the app under test runs with."""
    return await on_app_loop(client, lambda container: container.get(Settings))


async def app_storage(client: AsyncTestClient[Any]) -> FileStorage:
    """The app's object store. Its adapters keep no state bound to an event loop, so the
    test may use it on its own loop."""
    return await on_app_loop(client, lambda container: container.get(FileStorage))


async def asgi_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    json: bytes = b"",
) -> int:
    """One request straight through the ASGI app, as a server calls it (no HTTP client
    objects in between), with `json` as its body if given; the response status."""
    if json:
        length = str(len(json)).encode()
        headers = [*headers, (b"content-type", b"application/json"), (b"content-length", length)]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)  # type: ignore[arg-type]
    return statuses[0]


def without_embedded_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built after this run no periodic jobs in their embedded background. For tests
    that run the housekeeping themselves and count what it did: its hourly schedule
    (minute 17 of the wall clock) would otherwise do the work first now and then."""

    async def idle(_leader: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(ScheduleLeader, "run", idle)
