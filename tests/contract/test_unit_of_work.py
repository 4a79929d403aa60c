"""`UnitOfWork` and `Outbox` on SQLite, PostgreSQL and the fakes (`FakeUnitOfWork`,
`RecordingOutbox`): a unit's writes and the events recorded in it are kept together when it
commits and dropped together when it rolls back or ends without committing."""

from __future__ import annotations

import uuid

from tessera.shared.domain.events import Event
from tests.contract.stores import Store, Unit


async def change(unit: Unit, name: str) -> tuple[uuid.UUID, Event]:
    """A write (a new tenant) and the event that tells of it."""
    tenant = uuid.uuid4()
    await unit.tenants.create(tenant_id=tenant, name=name)
    event = Event("tenant.created", {"tenant_id": str(tenant)}, tenant_id=tenant)
    unit.outbox.record(event)
    return tenant, event


async def test_a_commit_keeps_the_write_and_publishes_its_event(store: Store) -> None:
    async with store.unit() as unit:
        tenant, event = await change(unit, "Acme")
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.tenants.name(tenant) == "Acme"
    assert await store.published() == {event.id}


async def test_a_rollback_drops_the_write_and_its_event_and_the_unit_goes_on(
    store: Store,
) -> None:
    async with store.unit() as unit:
        dropped, lost = await change(unit, "Dropped")
        await unit.work.rollback()
        kept, event = await change(unit, "Kept")
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.tenants.name(dropped) is None
        assert await unit.tenants.name(kept) == "Kept"
    assert await store.published() == {event.id}
    assert lost.id not in await store.published()


async def test_a_unit_that_ends_without_committing_leaves_no_trace(store: Store) -> None:
    async with store.unit() as unit:
        tenant, _ = await change(unit, "Ghost")
        assert await unit.tenants.name(tenant) == "Ghost", "a unit sees its own writes"
    async with store.unit() as unit:
        assert await unit.tenants.name(tenant) is None
    assert await store.published() == set()


async def test_each_commit_publishes_only_what_was_recorded_since_the_last(
    store: Store,
) -> None:
    async with store.unit() as unit:
        _, first = await change(unit, "One")
        await unit.commit()
        _, second = await change(unit, "Two")
        await unit.commit()
    assert await store.published() == {first.id, second.id}
