"""`PublishNotification`: who may notify whom, exactly one target, and the push recorded
with the notification in one commit."""

from __future__ import annotations

import uuid

import pytest

from tessera.features.notifications.application.publish_notification import (
    GlobalIsAdminOnly,
    NewNotification,
    NotAPublisher,
    RecipientNotFound,
)
from tessera.features.notifications.application.views import NOTIFICATION_PUBLISHED
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import InvalidInput
from tests.unit.notifications.fakes import Office


def new(**target: object) -> NewNotification:
    return NewNotification(title="  Maintenance tonight  ", body="From 22:00.", **target)  # type: ignore[arg-type]


async def test_an_admin_notifies_a_user_of_another_tenant_and_the_push_is_recorded() -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    ann = office.member(office.tenant())
    view = await office.publisher().execute(admin, new(user_id=ann.user_id))
    assert (view.title, view.user_id, view.tenant_id) == (
        "Maintenance tonight",
        ann.user_id,
        ann.tenant_id,
    )
    stored = await office.notifications.get(view.id)
    assert stored is not None
    assert stored.channel == f"user.{ann.user_id}"
    assert office.scope.state.all_tenants  # the audited cross-tenant path
    [event] = office.recorded
    assert event.type == NOTIFICATION_PUBLISHED
    assert event.tenant_id == ann.tenant_id
    assert event.payload["channel"] == f"user.{ann.user_id}"
    assert event.payload["id"] == str(view.id)
    assert office.commits == 1


async def test_an_admin_notifies_a_tenant_or_everyone() -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    tenant = office.tenant()
    to_tenant = await office.publisher().execute(admin, new(tenant_id=tenant))
    to_all = await office.publisher().execute(admin, new(everyone=True))
    assert (to_tenant.tenant_id, to_tenant.user_id) == (tenant, None)
    assert (to_all.tenant_id, to_all.user_id) == (None, None)
    assert [e.payload["channel"] for e in office.recorded] == [f"tenant.{tenant}", "global"]


async def test_a_tenant_admin_reaches_its_own_tenant_and_users_only() -> None:
    office = Office()
    acme, globex = office.tenant(), office.tenant()
    boss, staff, other = (
        office.member(acme, Role.TENANT_ADMIN),
        office.member(acme),
        office.member(globex),
    )
    publish = office.publisher()
    await publish.execute(boss, new(tenant_id=acme))
    await publish.execute(boss, new(user_id=staff.user_id))
    for target in (
        {"tenant_id": globex},
        {"user_id": other.user_id},
        {"user_id": uuid.uuid4()},
        {"tenant_id": uuid.uuid4()},
    ):
        with pytest.raises(RecipientNotFound):
            await publish.execute(boss, new(**target))
    with pytest.raises(GlobalIsAdminOnly):
        await publish.execute(boss, new(everyone=True))
    assert len(office.recorded) == office.commits == 2
    assert not office.scope.state.all_tenants


async def test_a_user_publishes_nothing() -> None:
    office = Office()
    staff = office.member(office.tenant())
    with pytest.raises(NotAPublisher):
        await office.publisher().execute(staff, new(tenant_id=staff.tenant_id))
    assert office.recorded == []


@pytest.mark.parametrize(
    "target",
    [{}, {"everyone": True, "tenant_id": "own"}, {"user_id": "own", "tenant_id": "own"}],
    ids=["none", "global-and-tenant", "user-and-tenant"],
)
async def test_exactly_one_target_is_required(target: dict[str, object]) -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    own = {"tenant_id": admin.tenant_id, "user_id": admin.user_id}
    chosen = {key: own[key] if value == "own" else value for key, value in target.items()}
    with pytest.raises(InvalidInput) as refused:
        await office.publisher().execute(admin, new(**chosen))
    assert refused.value.field == "target"
    assert office.recorded == []


async def test_a_blank_title_is_refused_after_trimming() -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    with pytest.raises(InvalidInput) as refused:
        await office.publisher().execute(admin, NewNotification(title="   ", everyone=True))
    assert refused.value.field == "title"
    assert office.commits == 0
