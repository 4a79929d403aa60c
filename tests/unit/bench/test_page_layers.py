"""`bench.page_layers` reads the same page through each layer and reports every one."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from bench import page_layers

from tests import services

pytestmark = pytest.mark.postgres


async def test_every_layer_reads_the_same_page_of_live_users(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await services.migrate(postgres_url)
    connection = await asyncpg.connect(services.asyncpg_dsn(postgres_url))
    try:
        tenant = uuid.uuid4()
        await connection.execute(
            "INSERT INTO tenants (id, name, created_at, updated_at) "
            "VALUES ($1, 'Acme', now(), now())",
            tenant,
        )
        for n, deleted in enumerate((False, False, False, True)):
            await connection.execute(
                "INSERT INTO users (id, tenant_id, email, password_hash, full_name, role, "
                "is_verified, is_active, created_at, updated_at, deleted_at) VALUES "
                "($1, $2, $3, 'x', 'U', 'user', true, true, now(), now(), "
                "CASE WHEN $4 THEN now() END)",
                uuid.uuid4(),
                tenant,
                f"u{n}@example.com",
                deleted,
            )
    finally:
        await connection.close()
    monkeypatch.setattr(page_layers, "READS", 10)

    rows = await page_layers.measure(postgres_url)

    assert [row.case.split(": ", 1)[1].split(":")[0] for row in rows] == [
        "asyncpg",
        "asyncpg",
        "SQLAlchemy Core connection, rows to entities",
        "Tessera's unit of work",
        "Tessera's list read",
    ]
    for row in rows:
        assert row.figures["rows"] == 3, row  # the deleted user is in no layer's page
        assert isinstance(row.figures["client_cpu_ms_per_req"], float)
        assert row.figures["client_cpu_ms_per_req"] > 0
