"""`MfaCredentials` on SQLite, PostgreSQL and the fake: a pending secret and its
replacement, confirmation, steps spent once and in order, recovery codes spent once,
removal, and nothing kept unless its unit of work commits."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from tessera.features.identity.domain.user import User
from tessera.shared.domain.caller import Role
from tests.contract.stores import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CODES = ["a" * 64, "b" * 64, "c" * 64]


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


async def pending(store: Store, user: User, sealed: str = "v1:sealed") -> bool:
    async with store.unit() as unit:
        done = await unit.mfa.set_pending(
            user_id=user.id, tenant_id=user.tenant_id, sealed_secret=sealed, now=T0
        )
        await unit.commit()
    return done


async def enabled(store: Store, user: User, step: int = 100) -> bool:
    async with store.unit() as unit:
        done = await unit.mfa.enable(user.id, step=step, code_hashes=CODES, now=T0)
        await unit.commit()
    return done


async def use_step(store: Store, user: User, step: int) -> bool:
    async with store.unit() as unit:
        done = await unit.mfa.use_step(user.id, step)
        await unit.commit()
    return done


async def use_code(store: Store, user: User, code_hash: str) -> bool:
    async with store.unit() as unit:
        done = await unit.mfa.use_recovery_code(user.id, code_hash, now=T0)
        await unit.commit()
    return done


async def test_a_pending_secret_is_replaced_until_confirmed(store: Store) -> None:
    user = await a_user(store)
    async with store.unit() as unit:
        assert await unit.mfa.get(user.id) is None
    assert await pending(store, user, "v1:first")
    assert await pending(store, user, "v1:second")
    async with store.unit() as unit:
        credential = await unit.mfa.get(user.id)
    assert credential is not None
    assert (credential.sealed_secret, credential.enabled) == ("v1:second", False)
    assert credential.tenant_id == user.tenant_id

    assert await enabled(store, user, step=100)
    assert not await enabled(store, user), "enabled already"
    assert not await pending(store, user, "v1:third"), "an enabled secret is not replaced"
    async with store.unit() as unit:
        credential = await unit.mfa.get(user.id)
        assert await unit.mfa.recovery_codes_left(user.id) == len(CODES)
    assert credential is not None
    assert (credential.sealed_secret, credential.enabled) == ("v1:second", True)
    assert credential.last_used_step == 100


async def test_nothing_is_enabled_without_a_pending_secret(store: Store) -> None:
    user = await a_user(store)
    assert not await enabled(store, user)
    async with store.unit() as unit:
        assert await unit.mfa.recovery_codes_left(user.id) == 0


async def test_a_step_is_accepted_once_and_only_after_the_last(store: Store) -> None:
    user = await a_user(store)
    await pending(store, user)
    assert not await use_step(store, user, 101), "not enabled yet"
    await enabled(store, user, step=100)
    assert not await use_step(store, user, 100), "the confirming code's step is spent"
    assert await use_step(store, user, 102)
    assert not await use_step(store, user, 102)
    assert not await use_step(store, user, 101), "an earlier step is refused too"
    assert await use_step(store, user, 103)


async def test_a_step_is_spent_only_if_its_unit_of_work_commits(store: Store) -> None:
    user = await a_user(store)
    await pending(store, user)
    await enabled(store, user, step=100)
    async with store.unit() as unit:
        assert await unit.mfa.use_step(user.id, 101)
    assert await use_step(store, user, 101)


async def test_of_concurrent_uses_of_one_step_one_succeeds(store: Store) -> None:
    user = await a_user(store)
    await pending(store, user)
    await enabled(store, user, step=100)
    results = await asyncio.gather(
        *(use_step(store, user, 101) for _ in range(5)), return_exceptions=True
    )
    assert [r for r in results if r is True] == [True]


async def test_a_recovery_code_is_spent_once(store: Store) -> None:
    user, other = await a_user(store), await a_user(store)
    await pending(store, user)
    await enabled(store, user)
    assert not await use_code(store, other, CODES[0]), "another user's code"
    assert await use_code(store, user, CODES[0])
    assert not await use_code(store, user, CODES[0])
    assert not await use_code(store, user, "f" * 64)
    async with store.unit() as unit:
        assert await unit.mfa.recovery_codes_left(user.id) == len(CODES) - 1
    results = await asyncio.gather(
        *(use_code(store, user, CODES[1]) for _ in range(5)), return_exceptions=True
    )
    assert [r for r in results if r is True] == [True]


async def test_new_recovery_codes_replace_the_old(store: Store) -> None:
    user = await a_user(store)
    await pending(store, user)
    await enabled(store, user)
    async with store.unit() as unit:
        await unit.mfa.replace_recovery_codes(
            user.id, tenant_id=user.tenant_id, code_hashes=["d" * 64, "e" * 64]
        )
        await unit.commit()
    assert not await use_code(store, user, CODES[1])
    assert await use_code(store, user, "d" * 64)
    async with store.unit() as unit:
        assert await unit.mfa.recovery_codes_left(user.id) == 1


async def test_removal_forgets_the_secret_and_the_codes(store: Store) -> None:
    user = await a_user(store)
    await pending(store, user)
    await enabled(store, user)
    async with store.unit() as unit:
        assert await unit.mfa.remove(user.id)
        assert not await unit.mfa.remove(user.id)
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.mfa.get(user.id) is None
        assert await unit.mfa.recovery_codes_left(user.id) == 0
    assert not await use_code(store, user, CODES[2])
    assert await pending(store, user), "set up again from scratch"
