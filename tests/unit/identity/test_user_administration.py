"""The admin users rules (SPEC §3.5) on fakes: reach, the admin-only cases, self-lockout,
and what a change does to the target's sessions, cache and the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import msgspec
import pytest

from tessera.features.audit.adapters.memory_audit import InMemoryAuditLog
from tessera.features.identity.application.accounts import Profile, live_user, profile_key
from tessera.features.identity.application.create_admin import CreateAdmin, NewAdmin
from tessera.features.identity.application.get_user import GetUser
from tessera.features.identity.application.list_users import ListUsers
from tessera.features.identity.application.ports import (
    PasswordHasher,
    SessionStore,
    TenantDirectory,
    UserFilter,
    UserRepository,
    UserSearch,
)
from tessera.features.identity.application.remove_user import RemoveUser
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
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden
from tessera.shared.domain.events import Event
from tessera.shared.domain.pagination import Page, PageRequest

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT_A, TENANT_B = uuid.uuid4(), uuid.uuid4()


class World:
    """Users, sessions, cache and outbox; events are kept only once committed."""

    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.staged: list[Event] = []
        self.events: list[Event] = []
        self.session_calls: list[tuple[str, uuid.UUID, object]] = []
        self.commits = 0
        self.tenants: list[str] = []
        self.cache = InMemoryCache()
        self.searches: list[UserFilter] = []
        self.audit = InMemoryAuditLog(self)

    def add(self, tenant: uuid.UUID, role: Role, email: str | None = None) -> User:
        address = email or f"{uuid.uuid4().hex[:8]}@ex.com"
        user = User.register(
            tenant_id=tenant,
            email=address,
            password_hash="h",
            full_name="Someone",
            role=role,
            now=NOW,
        )
        self.users[user.id] = user
        return user

    # UserRepository
    async def get(self, user_id: uuid.UUID) -> User | None:
        user = self.users.get(user_id)
        return None if user is None or user.deleted_at else user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email and not u.deleted_at), None)

    async def add_user(self, user: User) -> None:
        self.users[user.id] = user

    async def save(self, user: User) -> None:
        user.changed.clear()

    # UserSearch
    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        self.searches.append(where)
        found = [
            u
            for u in self.users.values()
            if not u.deleted_at and where.tenant_id in (None, u.tenant_id)
        ]
        return Page(found, len(found), page)

    # Outbox, UnitOfWork
    def record(self, event: Event) -> None:
        self.staged.append(event)

    async def commit(self) -> None:
        self.commits += 1
        self.events += self.staged
        self.staged = []

    # SessionStore (what these use cases call)
    async def set_role(self, user_id: uuid.UUID, role: Role) -> None:
        assert self.commits, "sessions change only after the commit"
        self.session_calls.append(("set_role", user_id, role))

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
        assert self.commits, "sessions end only after the commit"
        self.session_calls.append(("revoke_all", user_id, keep))
        return 1

    # Clock
    def now(self) -> datetime:
        return NOW

    # TenantDirectory
    async def create(self, *, tenant_id: uuid.UUID, name: str) -> None:
        self.tenants.append(name)

    # PasswordHasher
    async def hash(self, password: str) -> str:
        return "hashed:" + password


class Users:
    """The `UserRepository` view of a World (`add` means adding a user there)."""

    def __init__(self, world: World) -> None:
        self.get, self.by_email, self.save = world.get, world.by_email, world.save
        self.add = world.add_user


def principal(user: User) -> Principal:
    return Principal(user.id, user.tenant_id, user.role, uuid.uuid4())


@pytest.fixture
def world() -> World:
    return World()


def update_user(world: World) -> UpdateUser:
    return UpdateUser(
        cast(UserRepository, Users(world)),
        cast(SessionStore, world),
        world.cache,
        world,
        world,
        world,
        TenantScope(),
        world.audit,
    )


def remove_user(world: World) -> RemoveUser:
    return RemoveUser(
        cast(UserRepository, Users(world)),
        cast(SessionStore, world),
        world.cache,
        world,
        world,
        world,
        TenantScope(),
        world.audit,
    )


def get_user(world: World) -> GetUser:
    return GetUser(cast(UserRepository, Users(world)), TenantScope())


PAGE = PageRequest()


async def test_a_plain_user_is_refused_every_admin_use_case(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.USER))
    other = world.add(TENANT_A, Role.USER)
    with pytest.raises(NotAUserManager):
        await ListUsers(cast(UserSearch, world), TenantScope()).execute(caller, UserFilter(), PAGE)
    with pytest.raises(NotAUserManager):
        await get_user(world).execute(caller, other.id)
    with pytest.raises(NotAUserManager):
        await update_user(world).execute(caller, other.id, UserChanges(full_name="X"))
    with pytest.raises(NotAUserManager):
        await remove_user(world).execute(caller, other.id)
    assert world.events == []
    assert world.searches == []


async def test_a_tenant_admin_sees_another_tenants_user_as_missing(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    stranger = world.add(TENANT_B, Role.USER)
    with pytest.raises(UserNotFound):
        await get_user(world).execute(caller, stranger.id)
    with pytest.raises(UserNotFound):
        await update_user(world).execute(caller, stranger.id, UserChanges(is_active=False))
    with pytest.raises(UserNotFound):
        await remove_user(world).execute(caller, stranger.id)
    assert stranger.is_active
    assert stranger.deleted_at is None
    assert world.session_calls == []


async def test_deleted_and_unknown_users_are_missing_even_for_an_admin(world: World) -> None:
    caller = principal(world.add(TENANT_B, Role.ADMIN))
    gone = world.add(TENANT_A, Role.USER)
    gone.soft_delete(NOW)
    for user_id in (gone.id, uuid.uuid4()):
        with pytest.raises(UserNotFound):
            await get_user(world).execute(caller, user_id)


async def test_an_admin_reaches_any_tenant(world: World) -> None:
    caller = principal(world.add(TENANT_B, Role.ADMIN))
    target = world.add(TENANT_A, Role.USER)
    assert (await get_user(world).execute(caller, target.id)) == Profile.of(target)


async def test_a_tenant_admin_lists_only_its_own_tenant(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    world.add(TENANT_B, Role.USER)
    listing = ListUsers(cast(UserSearch, world), TenantScope())
    page = await listing.execute(caller, UserFilter(), PAGE)
    assert {u.tenant_id for u in page.items} == {TENANT_A}
    assert world.searches[-1].tenant_id == TENANT_A
    own = await listing.execute(caller, UserFilter(tenant_id=TENANT_A), PAGE)
    assert own.total_items == 1
    with pytest.raises(Forbidden):
        await listing.execute(caller, UserFilter(tenant_id=TENANT_B), PAGE)


async def test_an_admin_lists_every_tenant_or_the_one_asked_for(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.ADMIN))
    world.add(TENANT_B, Role.USER)
    listing = ListUsers(cast(UserSearch, world), TenantScope())
    assert (await listing.execute(caller, UserFilter(), PAGE)).total_items == 2
    only_b = await listing.execute(caller, UserFilter(tenant_id=TENANT_B), PAGE)
    assert {u.tenant_id for u in only_b.items} == {TENANT_B}


async def test_list_trims_search_and_reads_naive_times_as_utc(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.ADMIN))
    naive = datetime(2026, 1, 1, 8, 30)
    where = UserFilter(search="  ", created_after=naive, created_before=NOW)
    await ListUsers(cast(UserSearch, world), TenantScope()).execute(caller, where, PAGE)
    sent = world.searches[-1]
    assert sent.search is None
    assert sent.created_after == naive.replace(tzinfo=UTC)
    assert sent.created_before == NOW


async def test_a_role_change_reaches_the_sessions_after_the_commit(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    target = world.add(TENANT_A, Role.USER)
    await world.cache.set(profile_key(target.id), b"stale", ttl_seconds=60)
    profile = await update_user(world).execute(
        caller, target.id, UserChanges(role=Role.TENANT_ADMIN, full_name="  New   Name ")
    )
    assert profile.role == "tenant_admin"
    assert profile.full_name == "New Name"
    assert target.role is Role.TENANT_ADMIN
    assert world.session_calls == [("set_role", target.id, Role.TENANT_ADMIN)]
    assert await world.cache.get(profile_key(target.id)) is None
    [event] = world.events
    assert event.type == "user.updated"
    assert event.tenant_id == TENANT_A
    assert event.payload["role"] == "tenant_admin"
    assert event.payload["updated_by"] == str(caller.user_id)


async def test_deactivation_ends_every_session_and_reactivation_does_not(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.ADMIN))
    target = world.add(TENANT_B, Role.TENANT_ADMIN)
    await update_user(world).execute(caller, target.id, UserChanges(is_active=False))
    assert not target.is_active
    assert world.session_calls == [("revoke_all", target.id, None)]
    await update_user(world).execute(caller, target.id, UserChanges(is_active=True))
    assert target.is_active
    assert len(world.session_calls) == 1


async def test_a_name_only_change_leaves_the_sessions_alone(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    target = world.add(TENANT_A, Role.USER)
    await update_user(world).execute(caller, target.id, UserChanges(role=Role.USER, full_name="B"))
    assert world.session_calls == []
    assert target.full_name == "B"


async def test_a_tenant_admin_cannot_grant_admin_nor_touch_an_admin(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    target = world.add(TENANT_A, Role.USER)
    admin = world.add(TENANT_A, Role.ADMIN)
    with pytest.raises(AdminOnly):
        await update_user(world).execute(caller, target.id, UserChanges(role=Role.ADMIN))
    with pytest.raises(AdminOnly):
        await update_user(world).execute(caller, admin.id, UserChanges(full_name="X"))
    with pytest.raises(AdminOnly):
        await remove_user(world).execute(caller, admin.id)
    assert target.role is Role.USER
    assert admin.deleted_at is None
    assert world.events == []


async def test_an_admin_can_grant_admin(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.ADMIN))
    target = world.add(TENANT_B, Role.USER)
    await update_user(world).execute(caller, target.id, UserChanges(role=Role.ADMIN))
    assert target.role is Role.ADMIN


@pytest.mark.parametrize(
    "changes", [UserChanges(role=Role.USER), UserChanges(is_active=False)], ids=["demote", "off"]
)
async def test_nobody_locks_themselves_out(world: World, changes: UserChanges) -> None:
    me = world.add(TENANT_A, Role.TENANT_ADMIN)
    with pytest.raises(SelfLockout):
        await update_user(world).execute(principal(me), me.id, changes)
    with pytest.raises(SelfLockout):
        await remove_user(world).execute(principal(me), me.id)
    assert me.role is Role.TENANT_ADMIN
    assert me.is_active
    assert me.deleted_at is None


async def test_renaming_yourself_is_allowed(world: World) -> None:
    me = world.add(TENANT_A, Role.ADMIN)
    same_role = UserChanges(role=Role.ADMIN, is_active=True, full_name="Me")
    assert (await update_user(world).execute(principal(me), me.id, same_role)).full_name == "Me"


async def test_removal_soft_deletes_ends_sessions_and_records_it(world: World) -> None:
    caller = principal(world.add(TENANT_A, Role.TENANT_ADMIN))
    target = world.add(TENANT_A, Role.USER)
    await world.cache.set(profile_key(target.id), b"stale", ttl_seconds=60)
    await remove_user(world).execute(caller, target.id)
    assert target.deleted_at == NOW
    assert not target.is_active
    assert world.session_calls == [("revoke_all", target.id, None)]
    assert await world.cache.get(profile_key(target.id)) is None
    [event] = world.events
    assert event.type == "user.deleted"
    assert event.payload == {
        "user_id": str(target.id),
        "tenant_id": str(TENANT_A),
        "deleted_by": str(caller.user_id),
    }
    with pytest.raises(UserNotFound):
        await get_user(world).execute(caller, target.id)


async def test_a_deactivated_user_no_longer_counts_as_the_caller(world: World) -> None:
    user = world.add(TENANT_A, Role.USER)
    user.set_active(False, NOW)
    with pytest.raises(InvalidToken):
        await live_user(cast(UserRepository, Users(world)), principal(user))


def create_admin(world: World) -> CreateAdmin:
    return CreateAdmin(
        cast(UserRepository, Users(world)),
        cast(TenantDirectory, world),
        cast(PasswordHasher, world),
        world,
        world,
        world,
        TenantScope(),
    )


async def test_create_admin_makes_a_verified_admin_in_a_new_tenant(world: World) -> None:
    profile = await create_admin(world).execute(
        NewAdmin(email=" Root@Example.com", password="correct horse battery", full_name="Root")
    )
    user = world.users[profile.user_id]
    assert user.role is Role.ADMIN
    assert user.is_verified
    assert user.email == "root@example.com"
    assert user.password_hash == "hashed:correct horse battery"
    assert world.tenants == ["Administrators"]
    assert [e.type for e in world.events] == ["user.created"]


async def test_create_admin_refuses_a_taken_email_and_a_weak_password(world: World) -> None:
    world.add(TENANT_A, Role.USER, email="taken@example.com")
    command = NewAdmin(email="taken@example.com", password="correct horse battery", full_name="R")
    with pytest.raises(EmailAlreadyRegistered):
        await create_admin(world).execute(command)
    with pytest.raises(WeakPassword):
        await create_admin(world).execute(
            msgspec.structs.replace(command, email="new@example.com", password="password")
        )
    assert world.tenants == []
    assert world.events == []
