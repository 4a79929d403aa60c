"""`tessera backup` as an operator runs it, and the nightly `tessera.backup` task as the
scheduler sends it, both through the real container and the configured `FileStorage`."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from datetime import date
from pathlib import Path

import pytest
from taskiq import AsyncBroker, InMemoryBroker

from tessera.features.backups.domain.backup import backup_day, backup_key
from tessera.features.jobs.adapters.taskiq_tasks import BACKUP, register_tasks
from tessera.main.ioc import make_container
from tessera.main.settings import Settings
from tessera.shared.application.storage import FileStorage, ObjectNotFound
from tests import services
from tests.e2e.backups.test_restore import USERS, fetch, seed_users
from tests.e2e.harness import settings_for
from tests.e2e.processes import tessera

STALE = backup_key(date(2000, 1, 1))


async def read_object(settings: Settings, key: str) -> bytes:
    container = make_container(settings)
    try:
        storage = await container.get(FileStorage)
        return b"".join([chunk async for chunk in storage.open(key)])
    finally:
        await container.close()


async def store(settings: Settings, key: str, body: bytes) -> None:
    container = make_container(settings)
    try:
        storage = await container.get(FileStorage)
        await storage.put(key, body, content_type="application/gzip")
    finally:
        await container.close()


@pytest.mark.slow
@pytest.mark.postgres
async def test_tessera_backup_stores_todays_dump_and_prints_its_key_and_size(
    tmp_path: Path,
) -> None:
    async with services.throwaway_database() as url:
        await services.migrate(url)
        await seed_users(url)
        env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "data")}
        result = await asyncio.to_thread(tessera, "backup", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        key, size, unit = result.stdout.strip().splitlines()[-1].split(" ")
        assert backup_day(key) is not None
        assert unit == "bytes"
        stored = await read_object(settings_for(data_dir=env["DATA_DIR"]), key)
        assert len(stored) == int(size)
        sql = gzip.decompress(stored).decode()
        for _id, _tenant, email, _name in await fetch(url, USERS):
            assert str(email) in sql


@pytest.mark.slow
def test_tessera_backup_on_sqlite_refuses_in_one_line(tmp_path: Path) -> None:
    result = tessera("backup", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tessera: backup failed: Backups need PostgreSQL")
    assert not (tmp_path / "var" / "storage").exists()


@pytest.mark.slow
@pytest.mark.postgres
async def test_tessera_backup_of_an_unreachable_database_fails_in_one_line(
    tmp_path: Path,
) -> None:
    async with services.throwaway_database() as url:
        missing = url.rsplit("/", 1)[0] + f"/gone_{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": missing, "DATA_DIR": str(tmp_path / "data")}
    result = await asyncio.to_thread(tessera, "backup", cwd=tmp_path, env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tessera: backup failed: pg_dump exited with status 1: ")
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "data").rglob("*.sql.gz"))


def test_the_backup_task_is_scheduled_nightly_at_three_utc() -> None:
    broker = InMemoryBroker()
    register_tasks(broker, sweep_seconds=2)
    task = broker.find_task(BACKUP)
    assert task is not None
    assert task.labels["schedule"] == [{"cron": "0 3 * * *"}]


async def run_backup_task(settings: Settings) -> dict[str, object]:
    container = make_container(settings)  # embedded broker: runs in this process
    try:
        broker = await container.get(AsyncBroker)
        task = broker.find_task(BACKUP)
        assert task is not None
        sent = await task.kiq()
        result = await sent.wait_result(timeout=60)
    finally:
        await container.close()
    assert not result.is_err, result.error
    assert isinstance(result.return_value, dict)
    return result.return_value


@pytest.mark.postgres
async def test_the_nightly_task_backs_up_and_prunes_through_the_container(
    tmp_path: Path,
) -> None:
    async with services.throwaway_database() as url:
        await services.migrate(url)
        settings = settings_for(database_url=url, data_dir=str(tmp_path), backup_retention_days="3")
        await store(settings, STALE, b"stale")
        done = await run_backup_task(settings)
    backup = done["backup"]
    assert isinstance(backup, dict)
    key = backup["key"]
    assert isinstance(key, str)
    assert backup_day(key) is not None
    pruned = done["pruned"]
    assert isinstance(pruned, dict)
    assert list(pruned["deleted"]) == [STALE]
    assert pruned["kept"] == 1
    assert b"alembic_version" in gzip.decompress(await read_object(settings, key))
    with pytest.raises(ObjectNotFound):
        await read_object(settings, STALE)


async def test_the_nightly_task_on_sqlite_skips_and_deletes_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = settings_for(database_url=sqlite_url, data_dir=str(tmp_path))
    await store(settings, STALE, b"stale")
    done = await run_backup_task(settings)
    assert done == {"backup": None, "pruned": None}
    assert await read_object(settings, STALE) == b"stale"


def test_tessera_backup_has_help() -> None:
    from click.testing import CliRunner

    from tessera.main.cli import main

    result = CliRunner().invoke(main, ["backup", "--help"])
    assert result.exit_code == 0
    assert "backups/YYYY-MM-DD/database-backup.sql.gz" in result.output
