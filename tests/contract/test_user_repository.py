"""`UserRepository` and `UserSearch` on SQLite, PostgreSQL and the fakes: live users by id
and email, one live account per email, writes kept only on commit, soft deletion, the purge's
two queries, and the administrators' filtered, sorted lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.identity.application.ports import UserFilter
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.user import User
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import PageRequest, SortOrder
from tests.contract.stores import Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_user(
    tenant: uuid.UUID,
    email: str,
    *,
    name: str = "Someone",
    role: Role = Role.USER,
    minutes: int = 0,
) -> User:
    return User.register(
        tenant_id=tenant,
        email=email,
        password_hash="x",
        full_name=name,
        role=role,
        now=NOW + timedelta(minutes=minutes),
    )


async def a_tenant(store: Store) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with store.unit() as unit:
        await unit.tenants.create(tenant_id=tenant, name="T")
        await unit.commit()
    return tenant


async def kept(store: Store, *users: User) -> None:
    async with store.unit() as unit:
        for user in users:
            await unit.users.add(user)
        await unit.commit()


async def test_a_user_reads_back_by_id_and_email(store: Store) -> None:
    tenant = await a_tenant(store)
    user = a_user(tenant, "ada@example.com", name="Ada")
    await kept(store, user)
    async with store.unit() as unit:
        assert await unit.users.get(user.id) == user
        assert await unit.users.by_email("ada@example.com") == user
        assert await unit.users.by_email("nobody@example.com") is None
        assert await unit.users.get(uuid.uuid4()) is None


async def test_a_live_accounts_email_is_taken(store: Store) -> None:
    tenant, other = await a_tenant(store), await a_tenant(store)
    first = a_user(tenant, "ada@example.com")
    await kept(store, first)
    async with store.unit() as unit:
        with pytest.raises(EmailAlreadyRegistered):
            await unit.users.add(a_user(other, "ada@example.com"))  # in any tenant
    async with store.unit() as unit:
        assert await unit.users.by_email("ada@example.com") == first


async def test_a_change_is_kept_only_when_saved_and_committed(store: Store) -> None:
    tenant = await a_tenant(store)
    user = a_user(tenant, "ada@example.com")
    await kept(store, user)
    later = NOW + timedelta(hours=1)
    async with store.unit() as unit:
        user.change_role(Role.TENANT_ADMIN, later)
        await unit.users.save(user)
        assert user.changed == set()
    async with store.unit() as unit:
        found = await unit.users.get(user.id)
        assert found is not None
        assert found.role is Role.USER, "not committed"
        found.change_role(Role.TENANT_ADMIN, later)
        found.update_profile(full_name="Ada L.", avatar_url=None, clear_avatar=False, now=later)
        await unit.users.save(found)
        await unit.commit()
    async with store.unit() as unit:
        again = await unit.users.get(user.id)
    assert again is not None
    assert (again.role, again.full_name, again.updated_at) == (Role.TENANT_ADMIN, "Ada L.", later)


async def test_a_soft_deleted_user_is_gone_and_frees_its_email(store: Store) -> None:
    tenant = await a_tenant(store)
    user = a_user(tenant, "ada@example.com")
    await kept(store, user)
    async with store.unit() as unit:
        user.soft_delete(NOW)
        await unit.users.save(user)
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.users.get(user.id) is None
        assert await unit.users.by_email("ada@example.com") is None
        await unit.users.add(a_user(tenant, "ada@example.com"))
        await unit.commit()


async def test_only_soft_deleted_users_are_found_for_the_purge_and_purged(store: Store) -> None:
    tenant = await a_tenant(store)
    live = a_user(tenant, "live@example.com")
    deleted = [a_user(tenant, f"gone{n}@example.com") for n in range(3)]
    await kept(store, live, *deleted)
    async with store.unit() as unit:
        for days, user in zip((40, 60, 50), deleted, strict=True):
            user.soft_delete(NOW - timedelta(days=days))
            await unit.users.save(user)
        await unit.commit()
    async with store.unit() as unit:
        users = unit.users
        found = await users.deleted_before(NOW - timedelta(days=45), limit=10)
        assert list(found) == [deleted[1].id, deleted[2].id], "longest deleted first"
        assert list(await users.deleted_before(NOW, limit=1)) == [deleted[1].id]
        assert found[deleted[1].id] == tenant
        assert set(await users.purge([live.id, *found])) == set(found)
        assert list(await users.purge([])) == []
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.users.get(live.id) == live
        assert list(await unit.users.deleted_before(NOW, limit=10)) == [deleted[0].id]


async def emails(
    store: Store,
    where: UserFilter,
    *,
    sort: str = "email",
    order: SortOrder = "asc",
    page: int = 1,
    limit: int = 20,
) -> tuple[list[str], int]:
    async with store.unit() as unit:
        request = PageRequest(page=page, limit=limit, sort=sort, order=order)
        found = await unit.search.find(where, request)
    return [user.email for user in found.items], found.total_items


async def test_the_search_filters_sorts_and_pages_live_users(store: Store) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    boss = a_user(acme, "boss@acme.test", name="Big Boss", role=Role.TENANT_ADMIN, minutes=1)
    staff = a_user(acme, "staff@acme.test", name="50% Staffer", minutes=2)
    intern = a_user(acme, "intern@acme.test", name="Intern", minutes=3)
    intern.set_active(False, NOW)
    other = a_user(globex, "ceo@globex.test", name="CEO", minutes=4)
    other.mark_verified(NOW)
    gone = a_user(acme, "gone@acme.test", minutes=5)
    gone.soft_delete(NOW)
    await kept(store, boss, staff, intern, other, gone)

    everyone = ["boss@acme.test", "ceo@globex.test", "intern@acme.test", "staff@acme.test"]
    assert await emails(store, UserFilter()) == (everyone, 4)
    assert await emails(store, UserFilter(), order="desc") == (everyone[::-1], 4)
    assert await emails(store, UserFilter(), sort="created_at", limit=2, page=2) == (
        ["intern@acme.test", "ceo@globex.test"],
        4,
    )
    acme_only = ["boss@acme.test", "intern@acme.test", "staff@acme.test"]
    assert await emails(store, UserFilter(tenant_id=acme)) == (acme_only, 3)
    assert (await emails(store, UserFilter(role=Role.TENANT_ADMIN)))[0] == ["boss@acme.test"]
    assert (await emails(store, UserFilter(is_active=False)))[0] == ["intern@acme.test"]
    assert (await emails(store, UserFilter(is_verified=True)))[0] == ["ceo@globex.test"]
    window = UserFilter(
        created_after=NOW + timedelta(minutes=2), created_before=NOW + timedelta(minutes=4)
    )
    assert (await emails(store, window))[0] == ["intern@acme.test", "staff@acme.test"]
    assert (await emails(store, UserFilter(search="BOSS")))[0] == ["boss@acme.test"]
    assert (await emails(store, UserFilter(search="50%")))[0] == ["staff@acme.test"]
    assert (await emails(store, UserFilter(search="Sta_fer")))[0] == [], "`_` is no wildcard"
    assert (await emails(store, UserFilter(search="globex.")))[0] == ["ceo@globex.test"]


async def test_the_same_kind_of_list_answers_each_request_with_its_own_values(
    store: Store,
) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    await kept(
        store,
        a_user(acme, "a1@acme.test", minutes=1),
        a_user(acme, "a2@acme.test", minutes=2),
        a_user(acme, "a3@acme.test", minutes=3),
        a_user(globex, "g1@globex.test", minutes=4),
    )
    assert await emails(store, UserFilter(tenant_id=acme)) == (
        ["a1@acme.test", "a2@acme.test", "a3@acme.test"],
        3,
    )
    assert await emails(store, UserFilter(tenant_id=globex)) == (["g1@globex.test"], 1)
    assert await emails(store, UserFilter(tenant_id=acme), limit=2, page=2) == (
        ["a3@acme.test"],
        3,
    )
    past_the_end = await emails(store, UserFilter(tenant_id=globex), limit=2, page=3)
    assert past_the_end == ([], 1), "a page past the last one still counts the matches"
    assert await emails(store, UserFilter(tenant_id=uuid.uuid4()), page=2) == ([], 0)
    since = UserFilter(tenant_id=acme, created_after=NOW + timedelta(minutes=2), search="A3")
    assert await emails(store, since) == (["a3@acme.test"], 1)
