"""Migrations go up to head and back to base on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tessera.main import migrations
from tessera.main.models import metadata
from tessera.shared.adapters.database import create_engine
from tests import services


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    async with services.throwaway_database() as url:
        yield url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def _differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": migrations.compare_type, "compare_server_default": True},
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def test_upgrade_to_head_creates_every_table_of_the_models(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, database_url)
    assert await _tables(database_url) == set(metadata.tables)
    assert {"tenants", "outbox"} <= await _tables(database_url)


async def test_the_migrated_schema_matches_the_models_exactly(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, database_url)
    assert await _differences(database_url) == []


async def test_every_revision_goes_up_and_down_one_step_at_a_time(database_url: str) -> None:
    revisions = _revisions()
    assert revisions, "there is at least one revision"
    for revision in revisions:
        await asyncio.to_thread(migrations.upgrade, database_url, revision)
    for _ in revisions:
        await asyncio.to_thread(migrations.downgrade, database_url, "-1")
    assert await _tables(database_url) == set()
    await asyncio.to_thread(migrations.upgrade, database_url)
    assert await _tables(database_url) == set(metadata.tables)


def test_there_is_one_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
