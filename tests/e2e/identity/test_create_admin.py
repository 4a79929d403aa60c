"""`tessera create-admin` (SPEC §6) as an operator runs it, then the admin at the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import PASSWORD, SECRET, CheapHashing, bearer, login
from tests.e2e.processes import tessera

pytestmark = pytest.mark.slow


async def test_create_admin_migrates_makes_a_verified_admin_and_refuses_mistakes(
    tmp_path: Path,
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tessera.db'}"
    env = {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database, "JWT_SECRET_KEY": SECRET}
    args = ("create-admin", "--email", "Root@Example.com", "--full-name", "Root")
    created = tessera(*args, "--password", PASSWORD, cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    user_id = created.stdout.strip().splitlines()[-1]
    assert len(user_id) == 36
    assert user_id.count("-") == 4

    taken = tessera(*args, "--password", PASSWORD, cwd=tmp_path, env=env)
    assert taken.returncode == 1
    assert taken.stderr.strip().splitlines() == [
        "tessera: An account with this email already exists."
    ]
    weak = tessera(
        "create-admin",
        "--email",
        "other@example.com",
        "--full-name",
        "O",
        "--password",
        "password",
        cwd=tmp_path,
        env=env,
    )
    assert weak.returncode == 1
    assert len(weak.stderr.strip().splitlines()) == 1
    assert "password" in weak.stderr.lower()

    settings = settings_for(
        database_url=database,
        data_dir=str(tmp_path / "data"),
        rate_limit_enabled="false",
        jwt_secret_key=SECRET,
    )
    async with client_for(settings, CheapHashing()) as client:
        headers = bearer(await login(client, "root@example.com"))
        me = (await client.get("/api/v1/users/me", headers=headers)).json()["data"]
        assert me["user_id"] == user_id
        assert me["role"] == "admin"
        assert me["is_verified"] is True
        users = await client.get("/api/v1/users", headers=headers)
        assert users.status_code == 200, users.text
        assert [user["email"] for user in users.json()["data"]] == ["root@example.com"]
        tenant = await client.get(f"/api/v1/tenants/{me['tenant_id']}", headers=headers)
        if tenant.status_code == 200:  # the tenancy endpoints are being built alongside
            assert tenant.json()["data"]["name"] == "Administrators"
