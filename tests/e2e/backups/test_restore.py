"""A real backup of a migrated PostgreSQL database, restored with docs/operations.md's command
into a new, empty database: the same users, the same schema revision, row-level security and the
app role's grants intact."""

from __future__ import annotations

import gzip
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.backups.adapters.pg_dump import PgDumpDumper, libpq_connection
from tessera.features.backups.application.back_up_database import BackUpDatabase
from tessera.features.backups.domain.backup import BackupsNeedPostgres, DumpFailed
from tessera.features.identity.adapters.sql_users import SqlUserRepository
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.main import migrations
from tessera.shared.adapters.database import create_engine
from tessera.shared.domain.caller import Role
from tests import services
from tests.fakes.memory_storage import MemoryStorage
from tests.unit.backups.fakes import FixedClock

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
Rows = list[tuple[object, ...]]
OPERATIONS = Path(__file__).parents[3] / "docs" / "operations.md"


async def seed_users(url: str) -> None:
    """Two tenants with two users each, written as the owner."""
    engine = create_engine(url)
    async with AsyncSession(engine) as session:
        for tenant_number in range(2):
            tenant = uuid.uuid4()
            await SqlTenantRepository(session).create(tenant_id=tenant, name=f"T{tenant_number}")
            for user_number in range(2):
                user = User.register(
                    tenant_id=tenant,
                    email=f"user{user_number}@t{tenant_number}.example.com",
                    password_hash="x",
                    full_name=f"User {user_number}",
                    role=Role.USER,
                    now=NOW,
                )
                await SqlUserRepository(session).add(user)
        await session.commit()
    await engine.dispose()


async def fetch(url: str, query: str, *, settings: dict[str, str] | None = None) -> Rows:
    connection = await asyncpg.connect(services.asyncpg_dsn(url), server_settings=settings)
    try:
        return [tuple(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


USERS = "SELECT id, tenant_id, email, full_name FROM users ORDER BY email"


def documented_restore() -> str:
    """The operator's guide's restore line, with the backup and the database as `$1`, `$2`."""
    lines = OPERATIONS.read_text(encoding="utf-8").splitlines()
    [line] = [line for line in lines if line.startswith("gunzip -c database-backup.sql.gz |")]
    script = line.replace("database-backup.sql.gz", '"$1"', 1)
    assert script.endswith('"$OWNER_DATABASE_URL"'), line
    return script.removesuffix('"$OWNER_DATABASE_URL"') + '"$2"'


def restore(backup: Path, url: str) -> subprocess.CompletedProcess[str]:
    """docs/operations.md's restore command, literally."""
    libpq, _password = libpq_connection(url)
    script = f"set -o pipefail; {documented_restore()}"
    return subprocess.run(
        ["bash", "-c", script, "restore", str(backup), libpq],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("dump_as", ["owner", "app_role"])
async def test_the_backup_restored_into_a_new_database_holds_the_same_users(
    tmp_path: Path, dump_as: str
) -> None:
    async with services.throwaway_database() as source:
        await services.migrate(source)
        await seed_users(source)
        # the service connects as tessera_app, under row-level security: the dump must
        # still hold every tenant's rows
        dump_url = source if dump_as == "owner" else await services.as_app_role(source)
        storage = MemoryStorage()
        result = await BackUpDatabase(PgDumpDumper(dump_url), storage, FixedClock(NOW)).execute()
        assert result.key == "backups/2026-11-22/database-backup.sql.gz"
        users = await fetch(source, USERS)
        revision = await fetch(source, "SELECT version_num FROM alembic_version")
    assert len(users) == 4
    backup = tmp_path / "database-backup.sql.gz"
    backup.write_bytes(storage.data(result.key))
    sql = gzip.decompress(backup.read_bytes()).decode()
    assert "PGPASSWORD" not in sql
    assert result.sql_bytes == len(sql.encode())

    async with services.throwaway_database() as target:
        restored = restore(backup, target)
        assert restored.returncode == 0, restored.stderr
        assert await fetch(target, USERS) == users
        assert await fetch(target, "SELECT version_num FROM alembic_version") == revision
        assert revision == [(migrations.head_revision(),)]
        # row-level security and the app role's grants came back with the tables
        security = await fetch(
            target,
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = 'users' AND relkind = 'r'",
        )
        assert security == [(True, True)]
        policies = await fetch(target, "SELECT tablename FROM pg_policies ORDER BY tablename")
        assert {row[0] for row in policies} == {
            "audit_events",
            "files",
            "invitations",
            "mfa_recovery_codes",
            "notification_reads",
            "notifications",
            "one_time_tokens",
            "passkeys",
            "tenants",
            "totp_credentials",
            "users",
            "webhook_deliveries",
            "webhook_endpoints",
        }
        app = await services.as_app_role(target)
        assert await fetch(app, USERS) == []  # no tenant chosen: no rows
        one_tenant = str(users[0][1])
        scoped = await fetch(app, USERS, settings={"app.tenant_id": one_tenant})
        assert scoped == [row for row in users if str(row[1]) == one_tenant]
        assert await fetch(app, USERS, settings={"app.all_tenants": "on"}) == users


async def test_a_failed_dump_raises_with_pg_dumps_message_and_stores_nothing() -> None:
    async with services.throwaway_database() as url:
        missing = url.rsplit("/", 1)[0] + f"/no_such_db_{uuid.uuid4().hex[:8]}"
    storage = MemoryStorage()
    with pytest.raises(DumpFailed) as caught:
        await BackUpDatabase(PgDumpDumper(missing), storage, FixedClock(NOW)).execute()
    assert "pg_dump exited with status 1" in caught.value.message
    assert "no_such_db_" in caught.value.message  # the last lines of pg_dump's stderr
    assert storage.objects == {}


FAKE_PG_DUMP = """\
import os, sys
sys.stdout.write("-- argv: " + " ".join(sys.argv[1:]) + "\\n")
sys.stdout.write("-- password: " + os.environ.get("PGPASSWORD", "") + "\\n")
sys.stdout.write("-- options: " + os.environ.get("PGOPTIONS", "") + "\\n")
sys.stdout.flush()
if os.environ.get("FAIL"):
    for n in range(20):
        sys.stderr.write(f"pg_dump: line {n}\\n")
    sys.exit(3)
"""


def fake_pg_dump(tmp_path: Path) -> str:
    script = tmp_path / "pg_dump"
    script.write_text(f"#!{sys.executable}\n{FAKE_PG_DUMP}")
    script.chmod(0o755)
    return str(script)


async def test_the_password_travels_in_the_environment_never_in_argv(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://backup:s3cret%21@db.internal:5433/tessera?ssl=require"
    dumper = PgDumpDumper(url, executable=fake_pg_dump(tmp_path), environ={"PATH": "/usr/bin"})
    output = b"".join([chunk async for chunk in dumper.dump()]).decode()
    argv, password, options = output.splitlines()
    assert argv == (
        "-- argv: --format=plain --no-owner --enable-row-security "
        "--dbname=postgresql://backup@db.internal:5433/tessera?sslmode=require"
    )
    assert "s3cret" not in argv
    assert password == "-- password: s3cret!"
    assert options == "-- options: -c app.all_tenants=on"


async def test_a_non_zero_exit_raises_with_the_last_lines_of_stderr(tmp_path: Path) -> None:
    dumper = PgDumpDumper(
        "postgresql://u@h/db", executable=fake_pg_dump(tmp_path), environ={"FAIL": "1"}
    )
    with pytest.raises(DumpFailed) as caught:
        async for _ in dumper.dump():
            pass
    message = caught.value.message
    assert message.startswith("pg_dump exited with status 3: ")
    assert "pg_dump: line 19" in message
    assert "pg_dump: line 15" in message
    assert "pg_dump: line 14" not in message


async def test_a_missing_pg_dump_is_a_dump_failure(tmp_path: Path) -> None:
    dumper = PgDumpDumper("postgresql://u@h/db", executable=str(tmp_path / "nothing-here"))
    with pytest.raises(DumpFailed, match="cannot run"):
        async for _ in dumper.dump():
            pass


def test_sqlite_urls_are_refused() -> None:
    with pytest.raises(BackupsNeedPostgres):
        libpq_connection("sqlite+aiosqlite:///./var/tessera.db")
