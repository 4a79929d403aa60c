from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import services
from tests.fakes.s3_server import FakeS3Server
from tests.pgbouncer import PgBouncer

pytest_plugins = ["tests.hangs", "tests.failures", "tests.redis_topologies"]


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with services.throwaway_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head: SQLite, then a throwaway PostgreSQL one."""
    async with services.migrated(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[FakeS3Server]:
    """moto's S3 server for the whole run (each test makes a bucket of its own)."""
    with FakeS3Server() as server:
        yield server


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode with one server connection per database and user, for
    the whole run: every transaction of every tenant takes turns on the same connection."""
    bouncer = PgBouncer(pool_size=1, users=("postgres", services.APP_ROLE))
    bouncer.start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    async with services.redis_namespace() as prefix:
        yield prefix


def _answers(url: str, default_port: int) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or default_port), 1):
            return True
    except OSError:
        return False


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One loud line per missing service, printed once even when xdist runs the tests."""
    checks = (
        ("PostgreSQL", services.TEST_DATABASE_URL, 5432),
        ("Redis", services.TEST_REDIS_URL, 6379),
    )
    for name, url, port in checks:
        if not _answers(url, port):
            terminalreporter.write_line(
                f"!!! {name} tests did not run: nothing answers at {make_url(url).host}; "
                f"{services.HOW_TO_START}",
                red=True,
                bold=True,
            )
