"""The admin use cases and the caller's evaluation, over an in-memory store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec
import pytest

from tessera.features.audit.adapters.memory_audit import InMemoryAuditLog
from tessera.features.flags.application.create_flag import CreateFlag, NewFlag
from tessera.features.flags.application.delete_flag import DeleteFlag
from tessera.features.flags.application.evaluate_flags import EvaluateFlagsForCaller
from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.application.get_flag import GetFlag
from tessera.features.flags.application.list_flags import ListFlags
from tessera.features.flags.application.update_flag import FlagChanges, UpdateFlag
from tessera.features.flags.domain.errors import AdminOnly, FlagAlreadyExists, FlagNotFound
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden, InvalidInput
from tessera.shared.domain.pagination import PageRequest
from tests.fakes.clock import FakeClock
from tests.fakes.flags import FakeFlagRepository, FakeFlagSource
from tests.fakes.unit_of_work import FakeUnitOfWork
from tests.unit.flags.fakes import NOW, Monotonic


def principal(role: Role = Role.ADMIN, tenant: uuid.UUID | None = None) -> Principal:
    return Principal(
        user_id=uuid.uuid4(), tenant_id=tenant or uuid.uuid4(), role=role, session_id=uuid.uuid4()
    )


class World:
    """The flag use cases on the per-port fakes, sharing one unit of work."""

    def __init__(self) -> None:
        self.unit_of_work = FakeUnitOfWork()
        self.repository = FakeFlagRepository(self.unit_of_work)
        self.source = FakeFlagSource(self.repository)
        self.clock = FakeClock(NOW)
        self.flags = FeatureFlags(self.source, InMemoryCache(), monotonic=Monotonic())
        self.audit = InMemoryAuditLog(self.clock)
        r, u, f, c, a = self.repository, self.unit_of_work, self.flags, self.clock, self.audit
        self.create, self.update = CreateFlag(r, f, u, c, a), UpdateFlag(r, f, u, c, a)
        self.delete, self.get, self.list = DeleteFlag(r, f, u, a), GetFlag(r), ListFlags(r)
        self.evaluate = EvaluateFlagsForCaller(f)

    @property
    def committed(self) -> dict[str, FeatureFlag]:
        return self.repository.rows.committed()


@pytest.fixture
def world() -> World:
    return World()


ADMIN = principal()
PAGE = PageRequest(sort="key", order="asc")


async def test_an_admin_creates_a_flag_that_takes_effect_at_once(world: World) -> None:
    member = uuid.uuid4()
    assert not await world.flags.is_enabled("beta", member)  # the snapshot is warm and empty
    view = await world.create.execute(
        ADMIN, NewFlag(key="beta", description=" Beta UI ", enabled=True, user_ids=[member])
    )
    assert (view.key, view.description, view.enabled, view.rollout_percentage) == (
        "beta",
        "Beta UI",
        True,
        0,
    )
    assert view.user_ids == [member]
    assert view.created_at == view.updated_at == NOW
    assert world.unit_of_work.commits == 1
    assert "beta" in world.committed
    assert await world.flags.is_enabled("beta", member)


async def test_a_taken_key_is_a_conflict(world: World) -> None:
    await world.create.execute(ADMIN, NewFlag(key="beta"))
    with pytest.raises(FlagAlreadyExists):
        await world.create.execute(ADMIN, NewFlag(key="beta", enabled=True))
    assert world.committed["beta"].enabled is False


async def test_the_domain_refuses_what_the_wire_type_would_also_refuse(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        await world.create.execute(ADMIN, NewFlag(key="Beta"))
    assert caught.value.field == "key"
    assert world.unit_of_work.commits == 0


def test_the_wire_types_refuse_unknown_fields_and_out_of_range_values() -> None:
    for body in (
        b'{"key":"a","rollout_percentage":101}',
        b'{"key":"a","owner":"me"}',
        b'{"key":"A"}',
        b'{"key":"a","user_ids":["nope"]}',
    ):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(body, type=NewFlag)
    for body in (b'{"key":"b"}', b'{"enabled":null}', b'{"rollout_percentage":-1}'):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(body, type=FlagChanges)


async def test_an_update_changes_only_the_fields_given(world: World) -> None:
    tenant = uuid.uuid4()
    await world.create.execute(ADMIN, NewFlag(key="beta", description="Beta", tenant_ids=[tenant]))
    world.clock.set(NOW + timedelta(hours=1))
    view = await world.update.execute(
        ADMIN, "beta", FlagChanges(enabled=True, rollout_percentage=30)
    )
    assert (view.enabled, view.rollout_percentage, view.description) == (True, 30, "Beta")
    assert view.tenant_ids == [tenant]
    assert (view.created_at, view.updated_at) == (NOW, NOW + timedelta(hours=1))
    cleared = await world.update.execute(ADMIN, "beta", FlagChanges(tenant_ids=[]))
    assert cleared.tenant_ids == []
    assert cleared.enabled is True


async def test_an_update_is_seen_by_the_next_evaluation(world: World) -> None:
    caller = principal(Role.USER)
    await world.create.execute(ADMIN, NewFlag(key="beta", enabled=True, user_ids=[caller.user_id]))
    assert await world.evaluate.execute(caller) == {"beta": True}
    await world.update.execute(ADMIN, "beta", FlagChanges(enabled=False))
    assert await world.evaluate.execute(caller) == {"beta": False}


async def test_an_empty_update_writes_nothing(world: World) -> None:
    await world.create.execute(ADMIN, NewFlag(key="beta"))
    commits = world.unit_of_work.commits
    view = await world.update.execute(ADMIN, "beta", FlagChanges())
    assert view.key == "beta"
    assert world.unit_of_work.commits == commits


@pytest.mark.parametrize("key", ["missing", "NOT A KEY", "x" * 500])
async def test_get_update_and_delete_of_a_missing_flag_are_not_found(
    world: World, key: str
) -> None:
    with pytest.raises(FlagNotFound):
        await world.get.execute(ADMIN, key)
    with pytest.raises(FlagNotFound):
        await world.update.execute(ADMIN, key, FlagChanges(enabled=True))
    with pytest.raises(FlagNotFound):
        await world.delete.execute(ADMIN, key)
    assert world.unit_of_work.commits == 0


async def test_a_deleted_flag_is_gone_and_off(world: World) -> None:
    user = uuid.uuid4()
    await world.create.execute(ADMIN, NewFlag(key="beta", enabled=True, user_ids=[user]))
    assert await world.flags.is_enabled("beta", user)
    await world.delete.execute(ADMIN, "beta")
    assert "beta" not in world.committed
    assert not await world.flags.is_enabled("beta", user)
    with pytest.raises(FlagNotFound):
        await world.get.execute(ADMIN, "beta")


async def test_the_list_passes_paging_and_normalised_filters(world: World) -> None:
    for key in ("gamma", "alpha", "beta"):
        await world.create.execute(ADMIN, NewFlag(key=key, enabled=key != "beta"))
    page = await world.list.execute(ADMIN, PageRequest(limit=2, sort="key", order="asc"))
    assert [v.key for v in page.items] == ["alpha", "beta"]
    assert (page.total_items, page.has_next) == (3, True)
    enabled = await world.list.execute(ADMIN, PAGE, enabled=True, search="  ALPHA ")
    assert [v.key for v in enabled.items] == ["alpha"]


async def test_the_caller_gets_every_flag_with_its_tenant_counted(world: World) -> None:
    tenant = uuid.uuid4()
    caller = principal(Role.USER, tenant)
    world.source.put(
        FeatureFlag.create(key="for-tenant", now=NOW, enabled=True, tenant_ids=[tenant])
    )
    world.source.put(FeatureFlag.create(key="off", now=NOW, enabled=False, tenant_ids=[tenant]))
    world.source.put(
        FeatureFlag.create(key="others", now=NOW, enabled=True, tenant_ids=[uuid.uuid4()])
    )
    assert await world.evaluate.execute(caller) == {
        "for-tenant": True,
        "off": False,
        "others": False,
    }


UseCase = Callable[[World, Principal], Awaitable[object]]
ADMIN_ONLY: dict[str, UseCase] = {
    "create": lambda w, p: w.create.execute(p, NewFlag(key="made-by-other")),
    "list": lambda w, p: w.list.execute(p, PAGE),
    "get": lambda w, p: w.get.execute(p, "beta"),
    "update": lambda w, p: w.update.execute(p, "beta", FlagChanges(enabled=False)),
    "delete": lambda w, p: w.delete.execute(p, "beta"),
}


@pytest.mark.parametrize("role", [Role.USER, Role.TENANT_ADMIN])
@pytest.mark.parametrize("action", list(ADMIN_ONLY))
async def test_only_an_admin_may_manage_flags(world: World, role: Role, action: str) -> None:
    await world.create.execute(ADMIN, NewFlag(key="beta", enabled=True))
    commits = world.unit_of_work.commits
    with pytest.raises(AdminOnly) as caught:
        await ADMIN_ONLY[action](world, principal(role))
    assert isinstance(caught.value, Forbidden)
    assert world.unit_of_work.commits == commits
    assert set(world.committed) == {"beta"}
    assert world.committed["beta"].enabled
