"""Health endpoints (SPEC §3.11), including dependencies that go away and come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.fakes.tcp_proxy import TcpProxy


async def test_liveness_answers_without_asking_dependencies(sqlite_url: str) -> None:
    settings = settings_for(database_url="sqlite+aiosqlite:////nonexistent/dir/x.db")
    async with client_for(settings) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["timestamp"].endswith("Z")


async def test_embedded_mode_is_ready_and_reports_each_module(sqlite_url: str) -> None:
    async with client_for(settings_for(database_url=sqlite_url)) as client:
        ready = await client.get("/health/ready")
        database = await client.get("/health/database")
        cache = await client.get("/health/cache")
        unknown = await client.get("/health/telepathy")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "healthy",
        "cache": "healthy",
        "queue": "healthy",
        "email": "healthy",
        "storage": "healthy",
    }
    assert database.status_code == 200
    assert set(database.json()) == {"status", "module", "timestamp"}
    assert database.json()["module"] == "database"
    stamp = database.json()["timestamp"]  # ISO 8601 like every other timestamp
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert cache.json()["module"] == "cache"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture
async def proxies() -> AsyncIterator[tuple[TcpProxy, TcpProxy]]:
    await services.check_postgres()
    await services.check_redis()
    pg, redis = make_url(services.TEST_DATABASE_URL), make_url(services.TEST_REDIS_URL)
    database_proxy = TcpProxy(pg.host or "127.0.0.1", pg.port or 5432)
    redis_proxy = TcpProxy(redis.host or "127.0.0.1", redis.port or 6379)
    await database_proxy.start()
    await redis_proxy.start()
    yield database_proxy, redis_proxy
    await database_proxy.stop()
    await redis_proxy.stop()


@pytest.fixture
async def production_client(
    proxies: tuple[TcpProxy, TcpProxy], postgres_url: str, redis_prefix: str
) -> AsyncIterator[AsyncTestClient[Any]]:
    database_proxy, redis_proxy = proxies
    database_url = make_url(postgres_url).set(host="127.0.0.1", port=database_proxy.port)
    redis_url = make_url(services.TEST_REDIS_URL).set(host="127.0.0.1", port=redis_proxy.port)
    settings = settings_for(
        database_url=database_url.render_as_string(hide_password=False),
        redis_url=redis_url.render_as_string(hide_password=False),
        redis_key_prefix=redis_prefix,
    )
    async with client_for(settings) as client:
        yield client


async def test_postgresql_going_away_turns_ready_503_and_back_without_restart(
    production_client: AsyncTestClient[Any], proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    database_proxy, _ = proxies
    assert (await production_client.get("/health/ready")).status_code == 200

    await database_proxy.cut()
    ready = await production_client.get("/health/ready")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["failing"] == ["database"]
    assert error["details"]["checks"]["cache"] == "healthy"
    assert error["details"]["checks"]["queue"] == "healthy"
    assert (await production_client.get("/health/database")).status_code == 503
    assert (await production_client.get("/health/cache")).status_code == 200

    await database_proxy.restore()
    assert (await production_client.get("/health/ready")).status_code == 200
    assert (await production_client.get("/health/database")).json()["status"] == "healthy"


async def test_redis_going_away_turns_ready_503_and_back_without_restart(
    production_client: AsyncTestClient[Any], proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    _, redis_proxy = proxies
    assert (await production_client.get("/health/cache")).status_code == 200

    await redis_proxy.cut()
    ready = await production_client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["failing"] == ["cache", "queue"]
    cache = await production_client.get("/health/cache")
    assert cache.status_code == 503
    assert cache.json()["status"] == "error"

    await redis_proxy.restore()
    assert (await production_client.get("/health/cache")).status_code == 200
    assert (await production_client.get("/health/ready")).status_code == 200
