"""A running Tessera for the feature flag tests, and callers of each role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tessera.shared.adapters.database import create_engine
from tests import services
from tests.e2e.harness import app_settings, client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing, Client, bearer, login, register


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    settings = settings_for(
        database_url=url, data_dir=str(tmp_path), rate_limit_enabled="false", jwt_secret_key=SECRET
    )
    async with client_for(settings, CheapHashing()) as running:
        yield running


async def set_role(client: Client, email: str, role: str) -> None:
    """Change the role straight in the database, as `create-admin` would. The session
    carries the role from login, so sign in again afterwards. The app's own engine belongs
    to the app's event loop, so this uses an engine of its own."""
    settings = await app_settings(client)
    engine = create_engine(services.as_owner(settings.database_url))
    try:
        async with engine.begin() as connection:
            update = text("UPDATE users SET role = :role WHERE email = :email")
            result = await connection.execute(update, {"role": role, "email": email})
            assert result.rowcount == 1
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Caller:
    user_id: str
    tenant_id: str
    headers: dict[str, str]


async def caller(client: Client, email: str, role: str = "tenant_admin") -> Caller:
    """A new account (its own tenant) signed in with `role`."""
    user = await register(client, email=email)
    if role != "tenant_admin":
        await set_role(client, email, role)
    tokens = await login(client, email)
    return Caller(user["user_id"], user["tenant_id"], bearer(tokens))


@pytest.fixture
async def admin(client: Client) -> Caller:
    return await caller(client, "admin@example.com", "admin")


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    return dict(body["error"])
