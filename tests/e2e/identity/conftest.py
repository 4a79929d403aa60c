"""A running Tessera for the identity tests, in embedded or production mode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from dishka import Provider, Scope, provide
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from tessera.features.identity.adapters.argon2_hasher import Argon2PasswordHasher
from tessera.features.identity.application.ports import PasswordHasher
from tessera.shared.adapters.database import create_engine
from tests import services
from tests.e2e.harness import app_settings, client_for, settings_for
from tests.pgbouncer import PgBouncer

PASSWORD = "correct horse battery"
SECRET = "test-secret-" + "k" * 40
Client = AsyncTestClient[Any]


class CheapHashing(Provider):
    """The OWASP-minimum argon2id profile, so hundreds of logins stay fast in tests."""

    @provide(scope=Scope.APP, override=True)
    def hasher(self) -> PasswordHasher:
        return Argon2PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@asynccontextmanager
async def embedded_client(
    tmp_path: Path, *providers: Provider, **settings: str
) -> AsyncIterator[Client]:
    """Tessera on a migrated SQLite database in `tmp_path`, with cheap hashing, then
    `providers`, and these settings."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    configured = settings_for(database_url=url, data_dir=str(tmp_path), **settings)
    async with client_for(configured, CheapHashing(), *providers) as running:
        yield running


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with embedded_client(
        tmp_path, rate_limit_enabled="false", jwt_secret_key=SECRET
    ) as running:
        yield running


@asynccontextmanager
async def production_app(
    tmp_path: Path,
    redis_prefix: str,
    *providers: Provider,
    pooler: PgBouncer | None = None,
    **settings: str,
) -> AsyncIterator[Client]:
    """PostgreSQL and Redis, the service connecting as the app role, so row-level security
    applies as in production; cheap hashing, then `providers`, and these settings. With
    `pooler`, PostgreSQL is reached through that PgBouncer in transaction mode."""
    async with services.throwaway_database() as url:
        await services.migrate(url)
        database_url = await services.as_app_role(url)
        if pooler is not None:
            database_url = pooler.through(database_url)
            settings = settings | {"database_transaction_pooling": "true"}
        configured = settings_for(
            database_url=database_url,
            redis_url=services.TEST_REDIS_URL,
            redis_key_prefix=redis_prefix,
            data_dir=str(tmp_path),
            jwt_secret_key=SECRET,
            **settings,
        )
        async with client_for(configured, CheapHashing(), *providers) as running:
            yield running


@pytest.fixture(params=["direct", "pgbouncer"])
async def production_client(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[Client]:
    """Every test on it runs twice: straight to PostgreSQL, then through PgBouncer in
    transaction mode with one server connection, which every tenant's transactions share."""
    pooler = request.getfixturevalue("pgbouncer") if request.param == "pgbouncer" else None
    async with production_app(
        tmp_path, redis_prefix, pooler=pooler, rate_limit_enabled="false"
    ) as running:
        yield running


Register = Callable[..., Awaitable[dict[str, Any]]]


async def register(
    client: httpx.AsyncClient, email: str = "alice@example.com", **fields: Any
) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD, "full_name": "Alice", "terms_accepted": True}
    response = await client.post("/api/v1/auth/register", json=body | fields)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def login(
    client: httpx.AsyncClient, email: str = "alice@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def query(client: Client, sql: str, **values: Any) -> list[dict[str, Any]]:
    """Rows of the app's database, read as its owner (past row-level security)."""
    engine = create_engine(services.as_owner((await app_settings(client)).database_url))
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text(sql), values)).all()
    finally:
        await engine.dispose()
    return [dict(row._mapping) for row in rows]


async def events(client: Client, event_type: str) -> list[dict[str, Any]]:
    """The events of that type the app recorded in its outbox, oldest first, as rows with
    their `payload` (SQLite gives it as JSON text)."""
    rows = await query(
        client,
        "SELECT payload FROM outbox WHERE event_type = :type ORDER BY created_at",
        type=event_type,
    )
    return [
        {"payload": json.loads(p) if isinstance(p, str) else p}
        for p in (row["payload"] for row in rows)
    ]


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}
