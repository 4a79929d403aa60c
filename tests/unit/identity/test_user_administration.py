"""The admin users rules (SPEC §3.5) on fakes: reach, the admin-only cases, self-lockout,
and what a change does to the target's sessions, cache and the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from tessera.features.identity.application.accounts import Profile, live_user, profile_key
from tessera.features.identity.application.create_admin import CreateAdmin, NewAdmin
from tessera.features.identity.application.get_user import GetUser
from tessera.features.identity.application.list_users import ListUsers
from tessera.features.identity.application.ports import UserFilter
from tessera.features.identity.application.remove_user import RemoveUser
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.application.update_user import UpdateUser, UserChanges
from tessera.features.identity.application.user_administration import (
    AdminOnly,
    NotAUserManager,
    SelfLockout,
    UserNotFound,
)
from tessera.features.identity.domain.errors import (
    EmailAlreadyRegistered,
    InvalidToken,
    WeakPassword,
)
from tessera.features.identity.domain.user import User
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden
from tessera.shared.domain.pagination import PageRequest
from tests.fakes.identity import FakeUserSearch
from tests.fakes.unit_of_work import CommitFailed
from tests.unit.identity.harness import Identity

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT_A, TENANT_B = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def world() -> Identity:
    return Identity()


async def add(world: Identity, tenant: uuid.UUID, role: Role, email: str | None = None) -> User:
    address = email or f"{uuid.uuid4().hex[:8]}@ex.com"
    return await world.a_user(address, role=role, tenant_id=tenant, verified=False)


async def with_session(world: Identity, tenant: uuid.UUID, role: Role) -> tuple[User, TokenPair]:
    user = await add(world, tenant, role)
    return user, await world.signed_in(user)


def principal(user: User) -> Principal:
    return Principal(user.id, user.tenant_id, user.role, uuid.uuid4())


def update_user(world: Identity) -> UpdateUser:
    return UpdateUser(
        world.users,
        world.sessions,
        world.cache,
        world.outbox,
        world.unit_of_work,
        world.clock,
        TenantScope(),
        world.audit,
    )


def remove_user(world: Identity) -> RemoveUser:
    return RemoveUser(
        world.users,
        world.sessions,
        world.cache,
        world.outbox,
        world.unit_of_work,
        world.clock,
        TenantScope(),
        world.audit,
    )


def get_user(world: Identity) -> GetUser:
    return GetUser(world.users, TenantScope())


def list_users(world: Identity) -> ListUsers:
    return ListUsers(FakeUserSearch(world.users), TenantScope())


def events(world: Identity) -> list[str]:
    """The committed events other than the sign-ins' alerts."""
    skipped = {"user.security_alert", "email.send"}
    return [e.type for e in world.outbox.events if e.type not in skipped]


PAGE = PageRequest()


async def test_a_plain_user_is_refused_every_admin_use_case(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.USER))
    other = await add(world, TENANT_A, Role.USER)
    with pytest.raises(NotAUserManager):
        await list_users(world).execute(caller, UserFilter(), PAGE)
    with pytest.raises(NotAUserManager):
        await get_user(world).execute(caller, other.id)
    with pytest.raises(NotAUserManager):
        await update_user(world).execute(caller, other.id, UserChanges(full_name="X"))
    with pytest.raises(NotAUserManager):
        await remove_user(world).execute(caller, other.id)
    assert events(world) == []
    assert world.stored(other) == other


async def test_a_tenant_admin_sees_another_tenants_user_as_missing(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    stranger, session = await with_session(world, TENANT_B, Role.USER)
    with pytest.raises(UserNotFound):
        await get_user(world).execute(caller, stranger.id)
    with pytest.raises(UserNotFound):
        await update_user(world).execute(caller, stranger.id, UserChanges(is_active=False))
    with pytest.raises(UserNotFound):
        await remove_user(world).execute(caller, stranger.id)
    assert world.stored(stranger).is_active
    assert world.stored(stranger).deleted_at is None
    assert await world.alive(session)


async def test_deleted_and_unknown_users_are_missing_even_for_an_admin(world: Identity) -> None:
    caller = principal(await add(world, TENANT_B, Role.ADMIN))
    gone = await add(world, TENANT_A, Role.USER)
    gone.soft_delete(NOW)
    await world.users.save(gone)
    for user_id in (gone.id, uuid.uuid4()):
        with pytest.raises(UserNotFound):
            await get_user(world).execute(caller, user_id)


async def test_an_admin_reaches_any_tenant(world: Identity) -> None:
    caller = principal(await add(world, TENANT_B, Role.ADMIN))
    target = await add(world, TENANT_A, Role.USER)
    assert (await get_user(world).execute(caller, target.id)) == Profile.of(target)


async def test_a_tenant_admin_lists_only_its_own_tenant(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    await add(world, TENANT_B, Role.USER)
    listing = list_users(world)
    page = await listing.execute(caller, UserFilter(), PAGE)
    assert [u.id for u in page.items] == [caller.user_id]
    own = await listing.execute(caller, UserFilter(tenant_id=TENANT_A), PAGE)
    assert own.total_items == 1
    with pytest.raises(Forbidden):
        await listing.execute(caller, UserFilter(tenant_id=TENANT_B), PAGE)


async def test_an_admin_lists_every_tenant_or_the_one_asked_for(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.ADMIN))
    await add(world, TENANT_B, Role.USER)
    listing = list_users(world)
    assert (await listing.execute(caller, UserFilter(), PAGE)).total_items == 2
    only_b = await listing.execute(caller, UserFilter(tenant_id=TENANT_B), PAGE)
    assert {u.tenant_id for u in only_b.items} == {TENANT_B}


async def test_list_ignores_a_blank_search_and_reads_naive_times_as_utc(world: Identity) -> None:
    world.clock.set(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    caller = principal(await add(world, TENANT_A, Role.ADMIN))
    world.clock.set(datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    later = await add(world, TENANT_A, Role.USER)
    naive = datetime(2026, 1, 1, 8, 30)  # 08:30 UTC, whatever the machine's zone
    where = UserFilter(search="  ", created_after=naive, created_before=NOW)
    page = await list_users(world).execute(caller, where, PAGE)
    assert [u.id for u in page.items] == [later.id]


async def test_a_role_change_reaches_the_sessions_at_once(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    target, session = await with_session(world, TENANT_A, Role.USER)
    await world.cache.set(profile_key(target.id), b"stale", ttl_seconds=60)
    profile = await update_user(world).execute(
        caller, target.id, UserChanges(role=Role.TENANT_ADMIN, full_name="  New   Name ")
    )
    assert profile.role == "tenant_admin"
    assert profile.full_name == "New Name"
    assert world.stored(target).role is Role.TENANT_ADMIN
    assert await world.role_of(session) is Role.TENANT_ADMIN
    assert await world.cache.get(profile_key(target.id)) is None
    [event] = [e for e in world.outbox.events if e.type == "user.updated"]
    assert event.tenant_id == TENANT_A
    assert event.payload["role"] == "tenant_admin"
    assert event.payload["updated_by"] == str(caller.user_id)


async def test_sessions_change_only_once_the_change_is_committed(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.ADMIN))
    target, session = await with_session(world, TENANT_A, Role.USER)
    for changes in (UserChanges(role=Role.TENANT_ADMIN), UserChanges(is_active=False)):
        world.unit_of_work.fail_next_commit = True
        with pytest.raises(CommitFailed):
            await update_user(world).execute(caller, target.id, changes)
    world.unit_of_work.fail_next_commit = True
    with pytest.raises(CommitFailed):
        await remove_user(world).execute(caller, target.id)
    assert await world.role_of(session) is Role.USER
    assert world.stored(target) == target
    assert events(world) == []


async def test_deactivation_ends_every_session_and_reactivation_does_not(
    world: Identity,
) -> None:
    caller = principal(await add(world, TENANT_A, Role.ADMIN))
    target, session = await with_session(world, TENANT_B, Role.TENANT_ADMIN)
    await update_user(world).execute(caller, target.id, UserChanges(is_active=False))
    assert not world.stored(target).is_active
    assert not await world.alive(session)
    await update_user(world).execute(caller, target.id, UserChanges(is_active=True))
    assert world.stored(target).is_active
    assert not await world.alive(session), "a reactivation gives no session back"
    assert await world.alive(await world.signed_in(target))


async def test_a_name_only_change_leaves_the_sessions_alone(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    target, session = await with_session(world, TENANT_A, Role.USER)
    await update_user(world).execute(caller, target.id, UserChanges(role=Role.USER, full_name="B"))
    assert await world.role_of(session) is Role.USER
    assert world.stored(target).full_name == "B"


async def test_a_tenant_admin_cannot_grant_admin_nor_touch_an_admin(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    target = await add(world, TENANT_A, Role.USER)
    admin = await add(world, TENANT_A, Role.ADMIN)
    with pytest.raises(AdminOnly):
        await update_user(world).execute(caller, target.id, UserChanges(role=Role.ADMIN))
    with pytest.raises(AdminOnly):
        await update_user(world).execute(caller, admin.id, UserChanges(full_name="X"))
    with pytest.raises(AdminOnly):
        await remove_user(world).execute(caller, admin.id)
    assert world.stored(target).role is Role.USER
    assert world.stored(admin).deleted_at is None
    assert events(world) == []


async def test_an_admin_can_grant_admin(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.ADMIN))
    target = await add(world, TENANT_B, Role.USER)
    await update_user(world).execute(caller, target.id, UserChanges(role=Role.ADMIN))
    assert world.stored(target).role is Role.ADMIN


@pytest.mark.parametrize(
    "changes", [UserChanges(role=Role.USER), UserChanges(is_active=False)], ids=["demote", "off"]
)
async def test_nobody_locks_themselves_out(world: Identity, changes: UserChanges) -> None:
    me = await add(world, TENANT_A, Role.TENANT_ADMIN)
    with pytest.raises(SelfLockout):
        await update_user(world).execute(principal(me), me.id, changes)
    with pytest.raises(SelfLockout):
        await remove_user(world).execute(principal(me), me.id)
    assert world.stored(me) == me


async def test_renaming_yourself_is_allowed(world: Identity) -> None:
    me = await add(world, TENANT_A, Role.ADMIN)
    same_role = UserChanges(role=Role.ADMIN, is_active=True, full_name="Me")
    assert (await update_user(world).execute(principal(me), me.id, same_role)).full_name == "Me"


async def test_removal_soft_deletes_ends_sessions_and_records_it(world: Identity) -> None:
    caller = principal(await add(world, TENANT_A, Role.TENANT_ADMIN))
    target, session = await with_session(world, TENANT_A, Role.USER)
    await world.cache.set(profile_key(target.id), b"stale", ttl_seconds=60)
    await remove_user(world).execute(caller, target.id)
    assert world.stored(target).deleted_at == NOW
    assert not world.stored(target).is_active
    assert not await world.alive(session)
    assert await world.cache.get(profile_key(target.id)) is None
    [event] = [e for e in world.outbox.events if e.type == "user.deleted"]
    assert event.payload == {
        "user_id": str(target.id),
        "tenant_id": str(TENANT_A),
        "deleted_by": str(caller.user_id),
    }
    with pytest.raises(UserNotFound):
        await get_user(world).execute(caller, target.id)


async def test_a_deactivated_user_no_longer_counts_as_the_caller(world: Identity) -> None:
    user = await add(world, TENANT_A, Role.USER)
    user.set_active(False, NOW)
    await world.users.save(user)
    with pytest.raises(InvalidToken):
        await live_user(world.users, principal(user))


def create_admin(world: Identity) -> CreateAdmin:
    return CreateAdmin(
        world.users,
        world.tenants,
        world.hasher,
        world.outbox,
        world.unit_of_work,
        world.clock,
        TenantScope(),
    )


async def test_create_admin_makes_a_verified_admin_in_a_new_tenant(world: Identity) -> None:
    profile = await create_admin(world).execute(
        NewAdmin(email=" Root@Example.com", password="correct horse battery", full_name="Root")
    )
    user = world.users.rows.committed()[profile.user_id]
    assert user.role is Role.ADMIN
    assert user.is_verified
    assert user.email == "root@example.com"
    assert await world.hasher.verify(user.password_hash, "correct horse battery")
    assert list(world.tenant_names().values()) == ["Administrators"]
    assert events(world) == ["user.created"]


async def test_create_admin_refuses_a_taken_email_and_a_weak_password(world: Identity) -> None:
    await add(world, TENANT_A, Role.USER, email="taken@example.com")
    command = NewAdmin(email="taken@example.com", password="correct horse battery", full_name="R")
    with pytest.raises(EmailAlreadyRegistered):
        await create_admin(world).execute(command)
    with pytest.raises(WeakPassword):
        await create_admin(world).execute(
            msgspec.structs.replace(command, email="new@example.com", password="password")
        )
    await world.unit_of_work.rollback()  # the request ends
    assert world.tenant_names() == {}
    assert events(world) == []
