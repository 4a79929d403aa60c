"""Password hashing (tens of milliseconds of CPU each) runs outside any database
transaction: a login storm, a burst of registrations or password changes then hold no
pooled connection and no PostgreSQL transaction per password being checked. The hasher
here looks, each time it is called, at the transactions open in the app's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from dishka import Provider, Scope, provide

from tessera.features.identity.adapters.argon2_hasher import Argon2PasswordHasher
from tessera.features.identity.application.ports import PasswordHasher
from tessera.main.settings import Settings
from tests import services
from tests.e2e.identity.conftest import PASSWORD, Client, bearer, login, production_app

pytestmark = pytest.mark.slow


async def open_transactions(database_url: str) -> int:
    """Transactions open in the app's database (this query's own connection is active)."""
    connection = await asyncpg.connect(services.asyncpg_dsn(services.as_owner(database_url)))
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'"
        )
    finally:
        await connection.close()
    return int(count)


class WatchingHasher:
    """Cheap argon2id; before each hash or check, the count of open transactions."""

    def __init__(self, database_url: str, seen: list[int]) -> None:
        self._database_url, self.seen = database_url, seen
        self._inner = Argon2PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

    async def _look(self) -> None:
        self.seen.append(await open_transactions(self._database_url))

    async def hash(self, password: str) -> str:
        await self._look()
        return await self._inner.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        await self._look()
        return await self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)

    async def verify_dummy(self, password: str) -> None:
        await self._look()
        await self._inner.verify_dummy(password)


class WatchedHashing(Provider):
    def __init__(self, seen: list[int]) -> None:
        super().__init__()
        self._seen = seen

    @provide(scope=Scope.APP, override=True)
    def hasher(self, settings: Settings) -> PasswordHasher:
        return WatchingHasher(settings.database_url, self._seen)


@pytest.fixture
def seen() -> list[int]:
    return []


@pytest.fixture
async def client(tmp_path: Path, redis_prefix: str, seen: list[int]) -> AsyncIterator[Client]:
    async with production_app(
        tmp_path, redis_prefix, WatchedHashing(seen), rate_limit_enabled="false"
    ) as running:
        yield running


async def register_alice(client: Client) -> None:
    body = {"email": "alice@example.com", "password": PASSWORD, "full_name": "Alice"}
    response = await client.post("/api/v1/auth/register", json=body | {"terms_accepted": True})
    assert response.status_code == 201, response.text


async def test_registration_hashes_before_its_transaction(client: Client, seen: list[int]) -> None:
    await register_alice(client)
    assert seen == [0]


@pytest.mark.parametrize(
    ("email", "password", "status"),
    [
        ("alice@example.com", PASSWORD, 200),
        ("alice@example.com", "not the password", 401),
        ("nobody@example.com", PASSWORD, 401),
    ],
)
async def test_login_checks_the_password_outside_a_transaction(
    client: Client, seen: list[int], email: str, password: str, status: int
) -> None:
    await register_alice(client)
    seen.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == status, response.text
    assert seen == [0]


async def test_password_change_hashes_outside_a_transaction(
    client: Client, seen: list[int]
) -> None:
    await register_alice(client)
    tokens = await login(client)
    seen.clear()
    new_password = "a different battery staple"
    response = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(tokens),
    )
    assert response.status_code == 200, response.text
    assert seen == [0, 0]  # the current password checked, the new one hashed
    assert (await login(client, password=new_password))["access_token"]
