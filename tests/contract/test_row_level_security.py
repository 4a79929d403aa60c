"""Row-level security on PostgreSQL, as the app role the service connects as: the second wall
behind the use cases holds by itself (SPEC §3.5, migration 0006)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.identity.adapters.models import UserModel
from tessera.features.identity.adapters.sql_users import SqlUserRepository
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.adapters.models import TenantModel
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.adapters.database import create_engine, scoped_session, session_factory
from tessera.shared.adapters.driver_reads import DriverReads
from tessera.shared.application.tenant_scope import ScopeChangedInTransaction, TenantScope
from tessera.shared.domain.caller import Role
from tests import services

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TENANT_OWNED = {"tenants", "users", "one_time_tokens", "invitations", "files"}
TENANT_OWNED |= {"notifications", "notification_reads"}
TENANT_OWNED |= {"webhook_endpoints", "webhook_deliveries"}
TENANT_OWNED |= {"audit_events"}
TENANT_OWNED |= {"totp_credentials", "mfa_recovery_codes"}
TENANT_OWNED |= {"passkeys"}
# tables with more than `tenant_isolation`: global notifications are visible to every tenant
POLICIES = {"notifications": 2}
NOT_TENANT_DATA = {"outbox": "events and job states, read only by the relay and the workers"}


@dataclass(frozen=True)
class Database:
    owner_url: str
    app_url: str
    acme: uuid.UUID
    globex: uuid.UUID


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A migrated database with two tenants of one user each, made as the owner."""
    async with services.throwaway_database() as url:
        await services.migrate(url)
        acme, globex = uuid.uuid4(), uuid.uuid4()
        engine = create_engine(url)
        async with AsyncSession(engine) as session:
            tenants, users = SqlTenantRepository(session), SqlUserRepository(session)
            for tenant, name in ((acme, "Acme"), (globex, "Globex")):
                await tenants.create(tenant_id=tenant, name=name)
                await users.add(
                    User.register(
                        tenant_id=tenant,
                        email=f"admin@{name.lower()}.test",
                        password_hash="x",
                        full_name=name,
                        role=Role.TENANT_ADMIN,
                        now=NOW,
                    )
                )
            await session.commit()
        await engine.dispose()
        yield Database(url, await services.as_app_role(url), acme, globex)


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(services.asyncpg_dsn(url), timeout=3)


async def scoped(
    connection: asyncpg.Connection, tenant: uuid.UUID | str, *, every: bool = False
) -> None:
    await connection.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.all_tenants', $2, true)",
        str(tenant),
        "on" if every else "off",
    )


async def test_the_app_role_is_no_superuser_owns_no_table_and_cannot_bypass_rls(
    database: Database,
) -> None:
    app = await connect(database.app_url)
    try:
        role = await app.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        owned = await app.fetch(
            "SELECT tablename FROM pg_tables "
            "WHERE schemaname = 'public' AND tableowner = current_user"
        )
    finally:
        await app.close()
    assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    assert owned == []


async def test_every_tenant_owned_table_forces_row_level_security(database: Database) -> None:
    owner = await connect(database.owner_url)
    try:
        with_tenant = {
            row["table_name"]
            for row in await owner.fetch(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        }
        forced = {
            row["relname"]: (row["relrowsecurity"], row["relforcerowsecurity"], row["policies"])
            for row in await owner.fetch(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        }
    finally:
        await owner.close()
    assert with_tenant | {"tenants"} == TENANT_OWNED | set(NOT_TENANT_DATA)
    for table in TENANT_OWNED:
        assert forced[table] == (True, True, POLICIES.get(table, 1)), table


async def test_without_a_tenant_the_app_role_sees_no_rows(database: Database) -> None:
    app = await connect(database.app_url)
    try:
        async with app.transaction():
            counts = [await app.fetchval(f"SELECT count(*) FROM {t}") for t in ("tenants", "users")]
    finally:
        await app.close()
    assert counts == [0, 0]


async def test_a_tenant_sees_and_changes_only_its_own_rows(database: Database) -> None:
    app = await connect(database.app_url)
    try:
        async with app.transaction():
            await scoped(app, database.acme)
            tenants = await app.fetch("SELECT id FROM tenants")
            users = await app.fetch("SELECT tenant_id FROM users")
            renamed = await app.execute(
                "UPDATE tenants SET name = 'Pwned' WHERE id = $1", database.globex
            )
            deleted = await app.execute("DELETE FROM users WHERE tenant_id = $1", database.globex)
    finally:
        await app.close()
    assert [row["id"] for row in tenants] == [database.acme]
    assert [row["tenant_id"] for row in users] == [database.acme]
    assert (renamed, deleted) == ("UPDATE 0", "DELETE 0")


INSERT_USER = (
    "INSERT INTO users (id, tenant_id, email, password_hash, full_name, role, is_verified, "
    "is_active, created_at, updated_at) "
    "VALUES ($1, $2, 'intruder@example.test', 'x', 'I', 'user', false, true, now(), now())"
)


async def as_tenant(
    connection: asyncpg.Connection, tenant: uuid.UUID, sql: str, *args: object
) -> str:
    async with connection.transaction():
        await scoped(connection, tenant)
        result: str = await connection.execute(sql, *args)
        return result


async def test_writing_a_row_for_another_tenant_is_refused(database: Database) -> None:
    app = await connect(database.app_url)
    refused = asyncpg.InsufficientPrivilegeError
    try:
        with pytest.raises(refused, match="row-level security"):
            await as_tenant(app, database.acme, INSERT_USER, uuid.uuid4(), database.globex)
        move = "UPDATE users SET tenant_id = $1 WHERE tenant_id = $2"
        with pytest.raises(refused, match="row-level security"):
            await as_tenant(app, database.acme, move, database.globex, database.acme)
        assert await as_tenant(app, database.acme, INSERT_USER, uuid.uuid4(), database.acme) == (
            "INSERT 0 1"
        )
    finally:
        await app.close()


async def test_the_audited_path_sees_every_tenant(database: Database) -> None:
    app = await connect(database.app_url)
    try:
        async with app.transaction():
            await scoped(app, "", every=True)
            tenants = {row["id"] for row in await app.fetch("SELECT id FROM tenants")}
    finally:
        await app.close()
    assert tenants == {database.acme, database.globex}


async def test_a_pooled_connection_carries_nothing_into_the_next_transaction(
    database: Database,
) -> None:
    engine: AsyncEngine = create_engine(database.app_url, pool_size=1, max_overflow=0)
    factory = session_factory(engine)
    try:
        scope = TenantScope()
        scope.enter(database.acme)
        async with scoped_session(factory, scope) as session:
            first = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
            await session.commit()
        async with scoped_session(factory, TenantScope()) as session:  # the same connection
            backend = await session.scalar(text("SELECT pg_backend_pid()"))
            second = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
            setting = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
        async with AsyncSession(engine) as session:  # no scope at all
            assert await session.scalar(text("SELECT pg_backend_pid()")) == backend
            third = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
    finally:
        await engine.dispose()
    assert list(first) == [database.acme]
    assert (list(second), list(third)) == ([], [])
    assert setting in ("", None)


async def test_the_scope_cannot_change_inside_a_transaction(database: Database) -> None:
    engine = create_engine(database.app_url)
    scope = TenantScope()
    scope.enter(database.acme)
    try:
        async with scoped_session(session_factory(engine), scope) as session:
            await session.execute(text("SELECT 1"))
            with pytest.raises(ScopeChangedInTransaction):
                scope.across_tenants("too late")
            await session.commit()
            scope.across_tenants("after the commit, for the next transaction")
            every = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
    finally:
        await engine.dispose()
    assert set(every) == {database.acme, database.globex}


USERS_PAGE = select(UserModel.tenant_id).order_by(UserModel.email)


async def test_driver_reads_see_only_their_scopes_rows(database: Database) -> None:
    """`DriverReads` (asyncpg under SQLAlchemy's pool) begins each read in its scope, as a
    session does: a tenant, none, or every tenant on the audited path."""
    engine = create_engine(database.app_url, pool_size=1, max_overflow=0)
    acme, nobody, everyone = TenantScope(), TenantScope(), TenantScope()
    acme.enter(database.acme)
    everyone.across_tenants("test: every tenant")
    try:
        seen = [
            [row["tenant_id"] for row in await DriverReads(engine, scope).fetch(USERS_PAGE, {})]
            for scope in (acme, nobody, everyone)
        ]
        async with scoped_session(session_factory(engine), TenantScope()) as session:
            after = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
            setting = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
    finally:
        await engine.dispose()
    assert seen == [[database.acme], [], [database.acme, database.globex]]  # by email
    assert (list(after), setting) == ([], ""), "the pooled connection carries nothing on"


async def test_a_driver_read_cannot_write(database: Database) -> None:
    engine = create_engine(database.app_url, pool_size=1, max_overflow=0)
    scope = TenantScope()
    scope.enter(database.acme)
    renamed = update(TenantModel).values(name="Pwned").returning(TenantModel.id)
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await DriverReads(engine, scope).fetch(renamed, {})  # type: ignore[arg-type]
        assert await DriverReads(engine, scope).fetch(select(TenantModel.name), {}) == [
            ("Acme",)
        ], "the failed read's connection was replaced, and the next read works"
    finally:
        await engine.dispose()


async def test_a_cancelled_driver_read_leaves_no_transaction_on_the_pool(
    database: Database,
) -> None:
    engine = create_engine(database.app_url, pool_size=1, max_overflow=0)
    scope = TenantScope()
    scope.enter(database.acme)
    slow = select(TenantModel.id, func.pg_sleep(5))
    try:
        read = asyncio.create_task(DriverReads(engine, scope).fetch(slow, {}))
        await asyncio.sleep(0.5)  # BEGIN and the scope are sent; the statement runs
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        async with engine.connect() as connection:  # the pool's only connection
            in_transaction = await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in trans%'")
            )
            setting = await connection.scalar(text("SELECT current_setting('app.tenant_id', true)"))
    finally:
        await engine.dispose()
    assert in_transaction == 0
    assert setting in ("", None)  # None: a new connection replaced the cancelled read's


async def test_a_driver_read_inside_a_unit_of_work_leaves_its_scope_guarded(
    database: Database,
) -> None:
    """A use case may list (on its own connection) while its unit of work's transaction is
    open; the scope of that transaction must still refuse to change."""
    engine = create_engine(database.app_url)
    scope = TenantScope()
    scope.enter(database.acme)
    try:
        async with scoped_session(session_factory(engine), scope) as session:
            await session.execute(text("SELECT 1"))
            seen = await DriverReads(engine, scope).fetch(USERS_PAGE, {})
            with pytest.raises(ScopeChangedInTransaction):
                scope.across_tenants("too late")
            await session.commit()
    finally:
        await engine.dispose()
    assert [row["tenant_id"] for row in seen] == [database.acme]
