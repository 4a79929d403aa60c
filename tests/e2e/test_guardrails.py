"""Production guardrails (SPEC §6 "Resilience"): a database role that row-level security
does not hold for is refused in production and warned about in development; settings that
open the service wide are warned about."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.processes import tessera

pytestmark = pytest.mark.slow

PRODUCTION = {
    "ENVIRONMENT": "production",
    "JWT_SECRET_KEY": "k" * 40,
    "DATA_ENCRYPTION_KEY": base64.b64encode(b"d" * 32).decode(),
    "REDIS_URL": services.TEST_REDIS_URL,
    "S3_BUCKET": "tessera",
    "PUBLIC_BASE_URL": "https://app.example.com",
}


@pytest.fixture
async def migrated(postgres_url: str) -> str:
    await services.migrate(postgres_url)
    return postgres_url


async def admin_execute(database_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(services.asyncpg_dsn(database_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def login_role(migrated: str) -> AsyncIterator[tuple[str, str]]:
    """A fresh login role (name, URL) the test gives one power to."""
    name = f"tessera_guard_{uuid.uuid4().hex[:8]}"
    await admin_execute(migrated, f"CREATE ROLE {name} LOGIN IN ROLE {services.APP_ROLE}")
    yield name, make_url(migrated).set(username=name).render_as_string(hide_password=False)
    await admin_execute(
        migrated,
        f"REASSIGN OWNED BY {name} TO CURRENT_USER",
        f"DROP OWNED BY {name}",
        f"DROP ROLE {name}",
    )


def database_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "DATABASE_URL" in line]


@pytest.mark.parametrize("command", [("check-config",), ("serve",), ("worker",)])
def test_a_superuser_is_refused_in_production(
    migrated: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = tessera(*command, cwd=tmp_path, env=PRODUCTION | {"DATABASE_URL": migrated})
    assert result.returncode == 2, result.stderr
    (line,) = database_lines(result.stderr)
    assert line.startswith("tessera: refusing to start: DATABASE_URL: role postgres is a superuser")
    assert "Traceback" not in result.stderr


def test_a_superuser_is_allowed_with_a_warning_in_development(
    migrated: str, tmp_path: Path
) -> None:
    result = tessera("check-config", cwd=tmp_path, env={"DATABASE_URL": migrated})
    assert result.returncode == 0, result.stderr
    (line,) = database_lines(result.stderr)
    assert line.startswith("tessera: warning: DATABASE_URL: role postgres is a superuser")


@pytest.mark.parametrize("power", ["bypassrls", "owner"])
async def test_a_role_that_bypasses_or_owns_is_refused_in_production(
    migrated: str, login_role: tuple[str, str], tmp_path: Path, power: str
) -> None:
    name, url = login_role
    if power == "bypassrls":
        await admin_execute(migrated, f"ALTER ROLE {name} BYPASSRLS")
    else:
        await admin_execute(migrated, f"ALTER TABLE files OWNER TO {name}")
    result = await asyncio.to_thread(
        tessera, "check-config", cwd=tmp_path, env=PRODUCTION | {"DATABASE_URL": url}
    )
    assert result.returncode == 2, result.stderr
    (line,) = database_lines(result.stderr)
    expected = "has BYPASSRLS" if power == "bypassrls" else "owns 1 of the tables"
    assert f"role {name} {expected}" in line


async def test_the_services_own_role_passes_and_wide_settings_are_warned_about(
    migrated: str, tmp_path: Path
) -> None:
    env = PRODUCTION | {
        "DATABASE_URL": await services.as_app_role(migrated),
        "TRUSTED_PROXIES": "10.0.0.0/8,::/0",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "PUBLIC_BASE_URL": "http://localhost:8000",
    }
    result = await asyncio.to_thread(tessera, "check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert database_lines(result.stderr) == []
    warnings = [line.split(":")[2].strip() for line in result.stderr.splitlines()]
    assert warnings == ["TRUSTED_PROXIES", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "PUBLIC_BASE_URL"]
    assert "DATABASE_POOL_SIZE=20  (default)" in result.stdout  # the pool, shown
    assert "DATABASE_POOL_TIMEOUT=30.0  (default)" in result.stdout


def test_an_unreachable_database_is_a_warning_not_a_refusal(tmp_path: Path) -> None:
    env = PRODUCTION | {"DATABASE_URL": "postgresql://tessera_app@127.0.0.1:1/tessera"}
    result = tessera("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (line,) = database_lines(result.stderr)
    assert "its role was not checked: the database is unavailable" in line
