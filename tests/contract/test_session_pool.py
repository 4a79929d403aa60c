"""`SessionPool`: a reused session carries nothing of the request that used it before."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.tenancy.adapters.models import TenantModel
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.adapters.database import TENANT_SCOPE, SessionPool, session_factory
from tessera.shared.application.tenant_scope import TenantScope


async def test_a_pristine_session_is_handed_to_the_next_request(
    migrated_engine: AsyncEngine,
) -> None:
    pool = SessionPool(session_factory(migrated_engine))
    first = pool.acquire(TenantScope())
    await pool.release(first)
    second_scope = TenantScope()
    second = pool.acquire(second_scope)
    assert second is first
    assert second.info == {TENANT_SCOPE: second_scope}


async def test_rows_and_transactions_of_one_request_do_not_reach_the_next(
    migrated_engine: AsyncEngine,
) -> None:
    pool = SessionPool(session_factory(migrated_engine))
    session, tenant_id = await _with_a_new_tenant(pool, "Pooled")
    assert await SqlTenantRepository(session).get(tenant_id) is not None  # in the identity map
    await session.execute(text("SELECT 1"))  # and a transaction left open
    assert session.in_transaction()
    await pool.release(session)

    reused = pool.acquire(TenantScope())
    assert reused is session
    assert not reused.in_transaction()
    assert len(reused.identity_map) == 0
    assert migrated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await pool.release(reused)


async def test_no_more_than_keep_sessions_wait(migrated_engine: AsyncEngine) -> None:
    pool = SessionPool(session_factory(migrated_engine), keep=2)
    sessions = [pool.acquire(TenantScope()) for _ in range(3)]
    for session in sessions:
        await pool.release(session)
    again = [pool.acquire(TenantScope()) for _ in range(3)]
    assert len({id(s) for s in again} & {id(s) for s in sessions}) == 2


async def test_rows_kept_after_a_commit_do_not_reach_the_next_request(
    migrated_engine: AsyncEngine,
) -> None:
    pool = SessionPool(session_factory(migrated_engine))
    session, tenant_id = await _with_a_new_tenant(pool, "Kept")
    kept = await session.get(TenantModel, tenant_id)  # held: the identity map is weak
    assert kept is not None
    await session.commit()  # no transaction left, but the row stays in the identity map
    assert not session.in_transaction()
    assert len(session.identity_map) > 0
    await pool.release(session)
    reused = pool.acquire(TenantScope())
    assert reused is session
    assert len(reused.identity_map) == 0


async def _with_a_new_tenant(pool: SessionPool, name: str) -> tuple[AsyncSession, uuid.UUID]:
    """A session from `pool` (across tenants) that created and committed a tenant."""
    scope = TenantScope()
    scope.across_tenants("test setup")
    session = pool.acquire(scope)
    tenant_id = uuid.uuid4()
    await SqlTenantRepository(session).create(tenant_id=tenant_id, name=name)
    await session.commit()
    return session, tenant_id
