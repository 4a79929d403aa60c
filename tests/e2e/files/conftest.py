"""The identity tests' running Tessera, and one with small file limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.main import migrations
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing, Client, client, production_client

__all__ = ["client", "production_client", "small_client"]

SMALL_FILE_BYTES = 4096
SMALL_QUOTA_BYTES = 10_000


@pytest.fixture
async def small_client(tmp_path: Path) -> AsyncIterator[Client]:
    """SQLite and local storage with `FILE_MAX_BYTES` 4 KiB and a 10,000-byte quota."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    settings = settings_for(
        database_url=url, data_dir=str(tmp_path), rate_limit_enabled="false",
        jwt_secret_key=SECRET, file_max_bytes=str(SMALL_FILE_BYTES),
        storage_quota_bytes_per_tenant=str(SMALL_QUOTA_BYTES),
    )  # fmt: skip
    async with client_for(settings, CheapHashing()) as running:
        yield running
