"""`TenantRepository` (and the `TenantDirectory` registration makes tenants with) on SQLite,
PostgreSQL and the fakes: a tenant reads back, lists page and sort with ties by id, `only`
narrows to one, and a change is kept only when committed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tessera.shared.domain.pagination import PageRequest
from tests.contract.stores import Store


async def made(store: Store, *names: str) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in names]
    async with store.unit() as unit:
        for tenant_id, name in zip(ids, names, strict=True):
            await unit.tenants.create(tenant_id=tenant_id, name=name)
        await unit.commit()
    return ids


async def test_a_created_tenant_reads_back_active_under_its_trimmed_name(store: Store) -> None:
    [acme] = await made(store, "  Acme  ")
    async with store.unit() as unit:
        tenant = await unit.tenancy.get(acme)
        assert await unit.tenants.name(acme) == "Acme"
        assert await unit.tenancy.get(uuid.uuid4()) is None
        assert await unit.tenants.name(uuid.uuid4()) is None
    assert tenant is not None
    assert (tenant.id, tenant.name, tenant.is_active) == (acme, "Acme", True)


async def test_lists_sort_by_name_page_and_narrow_to_one(store: Store) -> None:
    ids = await made(store, "Globex", "Acme", "Initech")
    async with store.unit() as unit:
        by_name = await unit.tenancy.list(PageRequest(limit=2, sort="name", order="asc"))
        assert [t.name for t in by_name.items] == ["Acme", "Globex"]
        assert (by_name.total_items, by_name.has_next) == (3, True)
        last = await unit.tenancy.list(PageRequest(page=2, limit=2, sort="name", order="asc"))
        assert [t.name for t in last.items] == ["Initech"]
        desc = await unit.tenancy.list(PageRequest(sort="name", order="desc"))
        assert [t.name for t in desc.items] == ["Initech", "Globex", "Acme"]
        only = await unit.tenancy.list(PageRequest(sort="name"), only=ids[2])
        assert ([t.name for t in only.items], only.total_items) == (["Initech"], 1)


async def test_a_change_is_kept_only_when_committed(store: Store) -> None:
    [acme] = await made(store, "Acme")
    later = datetime(2030, 1, 1, tzinfo=UTC)
    async with store.unit() as unit:
        tenant = await unit.tenancy.get(acme)
        assert tenant is not None
        tenant.rename("Acme Ltd", now=later)
        await unit.tenancy.save(tenant)
        assert await unit.tenants.name(acme) == "Acme Ltd", "the unit sees its own change"
    async with store.unit() as unit:
        assert await unit.tenants.name(acme) == "Acme"
        tenant = await unit.tenancy.get(acme)
        assert tenant is not None
        tenant.rename("Acme Ltd", now=later)
        tenant.is_active = False
        await unit.tenancy.save(tenant)
        await unit.commit()
    async with store.unit() as unit:
        saved = await unit.tenancy.get(acme)
    assert saved is not None
    assert (saved.name, saved.is_active, saved.updated_at) == ("Acme Ltd", False, later)


async def test_requiring_mfa_is_kept_and_read_by_the_directory(store: Store) -> None:
    acme, globex = await made(store, "Acme", "Globex")
    async with store.unit() as unit:
        assert not await unit.tenants.requires_mfa(acme), "off for a new tenant"
        tenant = await unit.tenancy.get(acme)
        assert tenant is not None
        tenant.require_mfa(True, now=datetime(2030, 1, 1, tzinfo=UTC))
        await unit.tenancy.save(tenant)
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.tenants.requires_mfa(acme)
        assert not await unit.tenants.requires_mfa(globex)
        assert not await unit.tenants.requires_mfa(uuid.uuid4()), "no such tenant"
        stored = await unit.tenancy.get(acme)
    assert stored is not None
    assert stored.mfa_required
