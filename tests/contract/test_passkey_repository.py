"""`PasskeyRepository` on SQLite, PostgreSQL and the fake: stored whole, one credential id
across every tenant, the user's own in order, the counter compare-and-set, removal, and
nothing kept unless the unit of work commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.identity.domain.passkeys import Passkey, PasskeyAlreadyRegistered
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


def a_passkey(user: User, credential_id: bytes, *, minutes: int = 0) -> Passkey:
    return Passkey(
        id=uuid.uuid4(),
        tenant_id=user.tenant_id,
        user_id=user.id,
        credential_id=credential_id,
        public_key=b"\xa5\x01\x02" + credential_id,
        sign_count=0,
        transports=("internal", "hybrid"),
        name=f"key {minutes}",
        aaguid="01020304-0506-0708-090a-0b0c0d0e0f10",
        created_at=T0 + timedelta(minutes=minutes),
    )


async def add(store: Store, passkey: Passkey) -> None:
    async with store.unit() as unit:
        await unit.passkeys.add(passkey)
        await unit.commit()


async def test_a_passkey_reads_back_whole_by_id_and_by_credential_id(store: Store) -> None:
    user = await a_user(store)
    passkey = a_passkey(user, b"\x00cred\xff")
    await add(store, passkey)
    async with store.unit() as unit:
        assert await unit.passkeys.get(passkey.id) == passkey
        assert await unit.passkeys.by_credential_id(b"\x00cred\xff") == passkey
        assert await unit.passkeys.by_credential_id(b"\x00cred") is None
        assert await unit.passkeys.get(uuid.uuid4()) is None


async def test_a_credential_id_is_registered_once_across_every_tenant(store: Store) -> None:
    one, other = await a_user(store), await a_user(store)
    await add(store, a_passkey(one, b"same"))
    with pytest.raises(PasskeyAlreadyRegistered):
        await add(store, a_passkey(other, b"same"))
    async with store.unit() as unit:
        assert await unit.passkeys.of_user(other.id) == []


async def test_a_user_lists_only_their_own_passkeys_oldest_first(store: Store) -> None:
    user, someone = await a_user(store), await a_user(store)
    later, earlier = a_passkey(user, b"b", minutes=5), a_passkey(user, b"a", minutes=1)
    for passkey in (later, earlier, a_passkey(someone, b"c")):
        await add(store, passkey)
    async with store.unit() as unit:
        assert [p.id for p in await unit.passkeys.of_user(user.id)] == [earlier.id, later.id]


async def test_a_use_is_recorded_only_over_the_count_it_was_verified_against(
    store: Store,
) -> None:
    user = await a_user(store)
    passkey = a_passkey(user, b"counted")
    await add(store, passkey)
    used = T0 + timedelta(hours=1)
    async with store.unit() as unit:
        assert await unit.passkeys.record_use(passkey.id, seen_count=0, sign_count=7, used_at=used)
        await unit.commit()
    async with store.unit() as unit:
        stale = await unit.passkeys.record_use(passkey.id, seen_count=0, sign_count=8, used_at=used)
        assert not stale, "a racing sign-in verified against the old count loses"
        assert not await unit.passkeys.record_use(
            uuid.uuid4(), seen_count=0, sign_count=1, used_at=used
        )
        found = await unit.passkeys.get(passkey.id)
    assert found is not None
    assert (found.sign_count, found.last_used_at) == (7, used)


async def test_removal_is_kept_only_on_commit_and_answers_whether_it_existed(
    store: Store,
) -> None:
    user = await a_user(store)
    passkey = a_passkey(user, b"gone")
    await add(store, passkey)
    async with store.unit() as unit:
        assert await unit.passkeys.remove(passkey.id)
        # not committed: rolled back when the unit ends
    async with store.unit() as unit:
        assert await unit.passkeys.get(passkey.id) is not None
        assert await unit.passkeys.remove(passkey.id)
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.passkeys.get(passkey.id) is None
        assert not await unit.passkeys.remove(passkey.id)


async def test_an_uncommitted_passkey_is_not_kept(store: Store) -> None:
    user = await a_user(store)
    passkey = a_passkey(user, b"draft")
    async with store.unit() as unit:
        await unit.passkeys.add(passkey)
    async with store.unit() as unit:
        assert await unit.passkeys.by_credential_id(b"draft") is None
