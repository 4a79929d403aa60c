"""`PurgeDeletedAccounts` on SQLite and PostgreSQL: the rows really go, and only those."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.identity.adapters.models import OneTimeTokenModel, UserModel
from tessera.features.identity.adapters.sql_users import (
    SqlOneTimeTokens,
    SqlUserRepository,
)
from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.adapters.models import TenantModel
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.adapters.database import SqlAlchemyUnitOfWork
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.adapters.outbox import OutboxModel, SqlOutbox
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


async def a_tenant(engine: AsyncEngine) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await session.commit()
    return tenant


async def a_user(
    engine: AsyncEngine, tenant: uuid.UUID, *, deleted_at: datetime | None = None
) -> User:
    """A user with two one-time tokens (one spent, one not), soft-deleted at `deleted_at`."""
    user = User.register(
        tenant_id=tenant,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        password_hash="x",
        full_name="A",
        role=Role.USER,
        now=NOW - timedelta(days=400),
    )
    async with AsyncSession(engine) as session:
        users, tokens = SqlUserRepository(session), SqlOneTimeTokens(session)
        await users.add(user)
        for purpose in ("verify_email", "password_reset"):
            await tokens.issue(
                user=user,
                purpose=purpose,
                token_hash=uuid.uuid4().hex * 2,
                expires_at=NOW + timedelta(days=1),
                now=NOW,
            )
        if deleted_at is not None:
            user.soft_delete(deleted_at)
            await users.save(user)
        await session.commit()
    return user


async def purge(engine: AsyncEngine, *, batch: int) -> int:
    config = IdentityConfig(
        access_ttl_seconds=900,
        refresh_ttl_seconds=86400,
        idle_ttl_seconds=3600,
        require_verified_email=False,
        public_base_url="http://app.test",
        account_retention_days=RETENTION.days,
        purge_batch_size=batch,
    )
    async with AsyncSession(engine) as session:
        use_case = PurgeDeletedAccounts(
            SqlUserRepository(session),
            SqlOneTimeTokens(session),
            SqlOutbox(session),
            InMemoryCache(),
            SqlAlchemyUnitOfWork(session),
            FixedClock(),
            config,
            TenantScope(),
        )
        return await use_case.execute()


async def rows(
    engine: AsyncEngine,
) -> tuple[set[uuid.UUID], list[uuid.UUID], list[tuple[dict[str, str], uuid.UUID]]]:
    """Every user id (soft-deleted too), the user id of every token, the purge events."""
    async with AsyncSession(engine) as session:
        users = set((await session.execute(select(UserModel.id))).scalars())
        tokens = list((await session.execute(select(OneTimeTokenModel.user_id))).scalars())
        purged = select(OutboxModel.payload, OutboxModel.tenant_id).where(
            OutboxModel.event_type == "user.purged"
        )
        events = [(payload, tenant) for payload, tenant in await session.execute(purged)]
    return users, tokens, events


async def test_accounts_deleted_more_than_the_retention_ago_are_gone_with_their_tokens(
    engine: AsyncEngine,
) -> None:
    shared, other = await a_tenant(engine), await a_tenant(engine)
    live = await a_user(engine, shared)
    recent = await a_user(engine, shared, deleted_at=NOW - timedelta(days=2))
    at_the_boundary = await a_user(engine, other, deleted_at=NOW - RETENTION)
    old = [
        await a_user(engine, shared, deleted_at=NOW - RETENTION - timedelta(seconds=1)),
        await a_user(engine, other, deleted_at=NOW - timedelta(days=90)),
        await a_user(engine, shared, deleted_at=NOW - timedelta(days=365)),
    ]

    assert await purge(engine, batch=2) == 3

    users, tokens, events = await rows(engine)
    kept = {live.id, recent.id, at_the_boundary.id}
    assert users == kept
    assert sorted(map(str, tokens)) == sorted(str(u) for u in kept for _ in range(2))
    expected = [({"user_id": str(u.id), "tenant_id": str(u.tenant_id)}, u.tenant_id) for u in old]
    assert sorted(events, key=str) == sorted(expected, key=str)
    async with AsyncSession(engine) as session:
        tenants = set((await session.execute(select(TenantModel.id))).scalars())
    assert {shared, other} <= tenants, "the tenants stay: only accounts are purged"

    assert await purge(engine, batch=2) == 0, "idempotent"
    assert (await rows(engine))[0] == kept


async def test_the_repository_never_purges_a_live_user(engine: AsyncEngine) -> None:
    tenant = await a_tenant(engine)
    live = await a_user(engine, tenant)
    deleted = await a_user(engine, tenant, deleted_at=NOW - timedelta(days=1))
    async with AsyncSession(engine) as session:
        users = SqlUserRepository(session)
        assert await users.deleted_before(NOW, limit=10) == {deleted.id: tenant}
        assert await users.deleted_before(NOW - timedelta(days=1), limit=10) == {}
        assert list(await users.purge([live.id, deleted.id])) == [deleted.id]
        assert list(await users.purge([])) == []
        await session.commit()
    assert (await rows(engine))[0] == {live.id}


async def test_deleted_before_returns_the_longest_deleted_first_up_to_the_limit(
    engine: AsyncEngine,
) -> None:
    tenant = await a_tenant(engine)
    newer = await a_user(engine, tenant, deleted_at=NOW - timedelta(days=40))
    oldest = await a_user(engine, tenant, deleted_at=NOW - timedelta(days=60))
    older = await a_user(engine, tenant, deleted_at=NOW - timedelta(days=50))
    async with AsyncSession(engine) as session:
        found = await SqlUserRepository(session).deleted_before(NOW, limit=2)
    assert list(found) == [oldest.id, older.id]
    assert newer.id not in found


async def test_forgetting_users_deletes_all_their_tokens_and_no_one_elses(
    engine: AsyncEngine,
) -> None:
    """Explicit, so the purge does not depend on the foreign key's ON DELETE CASCADE."""
    tenant = await a_tenant(engine)
    mine, theirs = await a_user(engine, tenant), await a_user(engine, tenant)
    async with AsyncSession(engine) as session:
        tokens = SqlOneTimeTokens(session)
        assert await tokens.forget_users([mine.id]) == 2
        assert await tokens.forget_users([]) == 0
        await session.commit()
    assert (await rows(engine))[1] == [theirs.id, theirs.id]
