"""`SqlUserLookup` (`UserLookup`) on SQLite and PostgreSQL: one account read in a session of
its own, closed at once, and on PostgreSQL only inside the tenant it names (the app role,
under row-level security)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.identity.adapters.sql_users import SqlUserLookup, SqlUserRepository
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.adapters.database import create_engine, session_factory
from tessera.shared.domain.caller import Role
from tests import services

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


async def a_user(engine: AsyncEngine) -> User:
    """A user in a tenant of its own, written by the (owner) engine."""
    tenant = uuid.uuid4()
    user = User.register(
        tenant_id=tenant,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        password_hash="x",
        full_name="Ann",
        role=Role.USER,
        now=NOW,
    )
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await SqlUserRepository(session).add(user)
        await session.commit()
    return user


async def test_an_account_reads_back_and_no_connection_stays_checked_out(
    migrated_engine: AsyncEngine,
) -> None:
    user = await a_user(migrated_engine)
    lookup = SqlUserLookup(session_factory(migrated_engine))
    found = await lookup.get(user.id, tenant_id=user.tenant_id)
    assert found is not None
    assert (found.id, found.email, found.full_name) == (user.id, user.email, "Ann")
    assert await lookup.get(uuid.uuid4(), tenant_id=user.tenant_id) is None
    assert migrated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.postgres
async def test_under_row_level_security_an_account_is_found_only_in_its_own_tenant() -> None:
    async with services.throwaway_database() as url:
        await services.migrate(url)
        owner = create_engine(url)
        app = create_engine(await services.as_app_role(url))
        try:
            user = await a_user(owner)
            lookup = SqlUserLookup(session_factory(app))
            assert await lookup.get(user.id, tenant_id=user.tenant_id) is not None
            assert await lookup.get(user.id, tenant_id=uuid.uuid4()) is None
        finally:
            await app.dispose()
            await owner.dispose()
