"""`OneTimeTokens` on SQLite and PostgreSQL: single use, expiry, replacement, pruning."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.identity.adapters.sql_users import (
    SqlOneTimeTokens,
    SqlUserRepository,
)
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.domain.caller import Role

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


async def a_user(engine: AsyncEngine) -> User:
    tenant = uuid.uuid4()
    user = User.register(
        tenant_id=tenant,
        email=f"{tenant.hex[:8]}@example.com",
        password_hash="x",
        full_name="A",
        role=Role.USER,
        now=T0,
    )
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await SqlUserRepository(session).add(user)
        await session.commit()
    return user


async def issue(engine: AsyncEngine, user: User, digest: str, expires: datetime) -> None:
    async with AsyncSession(engine) as session:
        await SqlOneTimeTokens(session).issue(
            user=user, purpose="password_reset", token_hash=digest, expires_at=expires, now=T0
        )
        await session.commit()


async def consume(engine: AsyncEngine, digest: str, now: datetime) -> uuid.UUID | None:
    async with AsyncSession(engine) as session:
        found = await SqlOneTimeTokens(session).consume(
            purpose="password_reset", token_hash=digest, now=now
        )
        await session.commit()
    return found


async def test_a_token_works_once_and_only_before_it_expires(engine: AsyncEngine) -> None:
    user = await a_user(engine)
    await issue(engine, user, "a" * 64, T0 + timedelta(minutes=30))
    await issue(engine, user, "b" * 64, T0 + timedelta(minutes=30))
    assert await consume(engine, "a" * 64, T0) is None, "a newer token replaced it"
    assert await consume(engine, "b" * 64, T0 + timedelta(minutes=31)) is None, "expired"
    await issue(engine, user, "c" * 64, T0 + timedelta(minutes=30))
    assert await consume(engine, "c" * 64, T0) == user.id
    assert await consume(engine, "c" * 64, T0) is None, "single use"


async def test_concurrent_spending_of_one_token_succeeds_once(engine: AsyncEngine) -> None:
    user = await a_user(engine)
    await issue(engine, user, "d" * 64, T0 + timedelta(minutes=30))
    results = await asyncio.gather(
        *(consume(engine, "d" * 64, T0) for _ in range(5)), return_exceptions=True
    )
    assert [r for r in results if r == user.id] == [user.id]


async def test_spent_and_expired_tokens_are_pruned(engine: AsyncEngine) -> None:
    user = await a_user(engine)
    await issue(engine, user, "e" * 64, T0 + timedelta(minutes=30))
    async with AsyncSession(engine) as session:
        tokens = SqlOneTimeTokens(session)
        assert await tokens.prune(before=T0) == 0
        assert await tokens.prune(before=T0 + timedelta(hours=1)) == 1
        await session.commit()
