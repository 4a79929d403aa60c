"""Builds the real application around a container, as `tessera serve` does, for one test."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from dishka import Provider
from litestar.testing import AsyncTestClient

from tessera.main.ioc import make_container
from tessera.main.settings import Settings, load_settings
from tessera.main.web import create_app


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
