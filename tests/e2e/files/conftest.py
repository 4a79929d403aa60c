"""The identity tests' running Tessera, one with small file limits, and the production
stack with its objects in S3 (moto's server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import (
    SECRET,
    CheapHashing,
    Client,
    client,
    production_app,
    production_client,
)
from tests.fakes import s3_server as fake_s3
from tests.fakes.s3_server import FakeS3Server

__all__ = ["client", "production_client", "small_client"]

SMALL_FILE_BYTES = 4096
SMALL_QUOTA_BYTES = 10_000


@pytest.fixture
async def small_client(tmp_path: Path) -> AsyncIterator[Client]:
    """SQLite and local storage with `FILE_MAX_BYTES` 4 KiB and a 10,000-byte quota."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    settings = settings_for(
        database_url=url,
        data_dir=str(tmp_path),
        rate_limit_enabled="false",
        jwt_secret_key=SECRET,
        file_max_bytes=str(SMALL_FILE_BYTES),
        storage_quota_bytes_per_tenant=str(SMALL_QUOTA_BYTES),
    )
    async with client_for(settings, CheapHashing()) as running:
        yield running


@asynccontextmanager
async def s3_production_app(
    tmp_path: Path, redis_prefix: str, s3: FakeS3Server, **settings: str
) -> AsyncIterator[Client]:
    """PostgreSQL under row-level security, Redis, and a fresh bucket on moto's server."""
    async with production_app(
        tmp_path,
        redis_prefix,
        pooler=None,
        rate_limit_enabled="false",
        s3_endpoint_url=s3.endpoint_url,
        s3_bucket=s3.create_bucket(),
        s3_region=fake_s3.REGION,
        aws_access_key_id=fake_s3.ACCESS_KEY_ID,
        aws_secret_access_key=fake_s3.SECRET_ACCESS_KEY,
        **settings,
    ) as running:
        yield running
