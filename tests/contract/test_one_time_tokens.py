"""`OneTimeTokens` on SQLite, PostgreSQL and the fake: single use, expiry, replacement,
pruning."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from tessera.features.identity.domain.user import User
from tessera.shared.domain.caller import Role
from tests.contract.stores import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def a_user(store: Store) -> User:
    tenant = uuid.uuid4()
    user = User.register(
        tenant_id=tenant,
        email=f"{tenant.hex[:8]}@example.com",
        password_hash="x",
        full_name="A",
        role=Role.USER,
        now=T0,
    )
    async with store.unit() as unit:
        await unit.tenants.create(tenant_id=tenant, name="T")
        await unit.users.add(user)
        await unit.commit()
    return user


async def issue(store: Store, user: User, digest: str, expires: datetime) -> None:
    async with store.unit() as unit:
        await unit.tokens.issue(
            user=user, purpose="password_reset", token_hash=digest, expires_at=expires, now=T0
        )
        await unit.commit()


async def consume(store: Store, digest: str, now: datetime) -> uuid.UUID | None:
    async with store.unit() as unit:
        found = await unit.tokens.consume(purpose="password_reset", token_hash=digest, now=now)
        await unit.commit()
    return found


async def test_a_token_works_once_and_only_before_it_expires(store: Store) -> None:
    user = await a_user(store)
    await issue(store, user, "a" * 64, T0 + timedelta(minutes=30))
    await issue(store, user, "b" * 64, T0 + timedelta(minutes=30))
    assert await consume(store, "a" * 64, T0) is None, "a newer token replaced it"
    assert await consume(store, "b" * 64, T0 + timedelta(minutes=31)) is None, "expired"
    await issue(store, user, "c" * 64, T0 + timedelta(minutes=30))
    assert await consume(store, "c" * 64, T0) == user.id
    assert await consume(store, "c" * 64, T0) is None, "single use"


async def test_a_token_is_spent_only_if_its_unit_of_work_commits(store: Store) -> None:
    user = await a_user(store)
    await issue(store, user, "f" * 64, T0 + timedelta(minutes=30))
    async with store.unit() as unit:  # e.g. a reset whose new password was refused
        found = await unit.tokens.consume(purpose="password_reset", token_hash="f" * 64, now=T0)
        assert found == user.id
    assert await consume(store, "f" * 64, T0) == user.id


async def test_a_token_is_for_its_purpose_only(store: Store) -> None:
    user = await a_user(store)
    await issue(store, user, "g" * 64, T0 + timedelta(minutes=30))
    async with store.unit() as unit:
        assert (
            await unit.tokens.consume(purpose="verify_email", token_hash="g" * 64, now=T0) is None
        )
    assert await consume(store, "g" * 64, T0) == user.id


async def test_concurrent_spending_of_one_token_succeeds_once(store: Store) -> None:
    user = await a_user(store)
    await issue(store, user, "d" * 64, T0 + timedelta(minutes=30))
    results = await asyncio.gather(
        *(consume(store, "d" * 64, T0) for _ in range(5)), return_exceptions=True
    )
    assert [r for r in results if r == user.id] == [user.id]


async def test_spent_and_expired_tokens_are_pruned(store: Store) -> None:
    user = await a_user(store)
    await issue(store, user, "e" * 64, T0 + timedelta(minutes=30))
    async with store.unit() as unit:
        assert await unit.tokens.prune(before=T0) == 0
        assert await unit.tokens.prune(before=T0 + timedelta(hours=1)) == 1
        await unit.commit()


async def test_forgetting_users_deletes_their_tokens_spent_or_not(store: Store) -> None:
    user, other = await a_user(store), await a_user(store)
    await issue(store, user, "h" * 64, T0 + timedelta(minutes=30))
    await issue(store, user, "i" * 64, T0 + timedelta(minutes=30))  # spends "h"
    await issue(store, other, "j" * 64, T0 + timedelta(minutes=30))
    async with store.unit() as unit:
        assert await unit.tokens.forget_users([user.id]) == 2
        assert await unit.tokens.forget_users([]) == 0
        await unit.commit()
    assert await consume(store, "i" * 64, T0) is None
    assert await consume(store, "j" * 64, T0) == other.id
