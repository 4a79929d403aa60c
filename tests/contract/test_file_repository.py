"""`SqlFileRepository` on SQLite and PostgreSQL: rows read back, one tenant's list with its
filters and sorts (search literal and case-insensitive), used bytes, removal."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.files.adapters.sql_files import SqlFileRepository
from tessera.features.files.application.ports import FileFilter
from tessera.features.files.domain.file import FileKind, FileStatus, StoredFile
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.domain.pagination import PageRequest, SortOrder
from tests.contract.stores import Store

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def page(sort: str = "uploaded_at", order: SortOrder = "asc", limit: int = 50) -> PageRequest:
    return PageRequest(page=1, limit=limit, sort=sort, order=order)


async def a_tenant(store: Store) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with store.unit() as unit:
        await unit.tenants.create(tenant_id=tenant, name="T")
        await unit.commit()
    return tenant


async def a_tenant_in(engine: AsyncEngine) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await session.commit()
    return tenant


def a_file(
    tenant: uuid.UUID,
    name: str,
    *,
    size: int = 10,
    minutes: int = 0,
    kind: FileKind = FileKind.DOCUMENT,
    content_type: str = "application/pdf",
) -> StoredFile:
    file_id = uuid.uuid4()
    at = NOW + timedelta(minutes=minutes)
    return StoredFile(
        id=file_id,
        tenant_id=tenant,
        user_id=uuid.uuid4(),
        kind=kind,
        content_type=content_type,
        size_bytes=size,
        original_name=name,
        sha256="ab" * 32,
        storage_key=f"uploads/documents/{file_id}.pdf",
        status=FileStatus.READY,
        uploaded_at=at,
        created_at=at,
        updated_at=at,
    )


async def stored(store: Store, *files: StoredFile) -> None:
    async with store.unit() as unit:
        for file in files:
            await unit.files.add(file)
        await unit.commit()


EVERYTHING = FileFilter()


async def listed(
    store: Store,
    tenant: uuid.UUID,
    where: FileFilter = EVERYTHING,
    *,
    sort: str = "uploaded_at",
    order: SortOrder = "asc",
) -> list[str]:
    async with store.unit() as unit:
        found = await unit.files.list(page(sort, order), tenant_id=tenant, where=where)
    return [file.original_name for file in found.items]


async def test_a_file_reads_back_and_is_removed_once(store: Store) -> None:
    tenant = await a_tenant(store)
    big = a_file(tenant, "big.pdf", size=5 * 1024**3)  # over 32 bits
    await stored(store, big)
    async with store.unit() as unit:
        repository = unit.files
        assert await repository.get(big.id) == big
        assert await repository.remove(big.id)
        assert not await repository.remove(big.id)
        assert await repository.get(big.id) is None
        await unit.commit()


async def test_the_list_holds_one_tenants_files_filtered_and_sorted(
    store: Store,
) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    await stored(
        store,
        a_file(acme, "Report 100%.pdf", size=30, minutes=1),
        a_file(acme, "report_2.pdf", size=10, minutes=2),
        a_file(acme, "reportX2.pdf", size=20, minutes=3),
        a_file(acme, "Photo.png", size=5, minutes=4, kind=FileKind.IMAGE, content_type="image/png"),
        a_file(globex, "report of globex.pdf", minutes=5),
    )
    assert await listed(store, acme) == [
        "Report 100%.pdf",
        "report_2.pdf",
        "reportX2.pdf",
        "Photo.png",
    ]
    assert await listed(store, acme, sort="size_bytes", order="desc") == [
        "Report 100%.pdf",
        "reportX2.pdf",
        "report_2.pdf",
        "Photo.png",
    ]
    by_name = await listed(store, acme, sort="original_name", order="asc")
    assert by_name[0] == "Photo.png"
    assert len(by_name) == 4
    assert await listed(store, acme, FileFilter(search="REPORT_")) == ["report_2.pdf"]
    assert await listed(store, acme, FileFilter(search="0%")) == ["Report 100%.pdf"]
    assert await listed(store, acme, FileFilter(kind=FileKind.IMAGE)) == ["Photo.png"]
    assert await listed(
        store,
        acme,
        FileFilter(content_type="application/pdf", uploaded_after=NOW + timedelta(minutes=2)),
    ) == ["reportX2.pdf"]
    assert await listed(store, globex) == ["report of globex.pdf"]


async def test_used_bytes_sums_one_tenants_files(store: Store) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    await stored(
        store,
        a_file(acme, "a", size=3 * 1024**3),
        a_file(acme, "b", size=7),
        a_file(globex, "c", size=100),
    )
    async with store.unit() as unit:
        repository = unit.files
        assert await repository.used_bytes(acme) == 3 * 1024**3 + 7
        assert await repository.used_bytes(globex) == 100
        assert await repository.used_bytes(uuid.uuid4()) == 0


async def test_a_tenant_removed_takes_its_files_along(migrated_engine: AsyncEngine) -> None:
    from sqlalchemy import delete

    from tessera.features.tenancy.adapters.models import TenantModel

    tenant = await a_tenant_in(migrated_engine)
    file = a_file(tenant, "a.pdf")
    async with AsyncSession(migrated_engine) as session:
        await SqlFileRepository(session).add(file)
        await session.commit()
    async with AsyncSession(migrated_engine) as session:
        await session.execute(delete(TenantModel).where(TenantModel.id == tenant))
        await session.commit()
        assert await SqlFileRepository(session).get(file.id) is None


async def test_of_user_finds_one_uploaders_files_oldest_first_up_to_the_limit(
    store: Store,
) -> None:
    tenant = await a_tenant(store)
    theirs = [a_file(tenant, f"{n}.pdf", minutes=n) for n in (3, 1, 2)]
    for file in theirs[1:]:
        file.user_id = theirs[0].user_id
    await stored(store, *theirs, a_file(tenant, "someone else's.pdf"))
    async with store.unit() as unit:
        repository = unit.files
        found = await repository.of_user(theirs[0].user_id, limit=2)
        everything = await repository.of_user(theirs[0].user_id, limit=10)
        nobody = await repository.of_user(uuid.uuid4(), limit=10)
    assert [f.original_name for f in found] == ["1.pdf", "2.pdf"]
    assert [f.original_name for f in everything] == ["1.pdf", "2.pdf", "3.pdf"]
    assert list(nobody) == []


async def test_hold_quota_makes_a_second_transaction_of_the_tenant_wait_for_the_first(
    migrated_engine: AsyncEngine,
) -> None:
    tenant, other = await a_tenant_in(migrated_engine), await a_tenant_in(migrated_engine)
    async with AsyncSession(migrated_engine) as first, AsyncSession(migrated_engine) as second:
        await SqlFileRepository(first).hold_quota(tenant)

        async def then_second() -> None:
            await SqlFileRepository(second).hold_quota(tenant)
            await second.commit()

        waiting = asyncio.ensure_future(then_second())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the second decision did not wait for the first"
        await first.commit()
        await asyncio.wait_for(waiting, timeout=5)
    if migrated_engine.dialect.name == "postgresql":  # rows, not the whole database
        async with AsyncSession(migrated_engine) as a, AsyncSession(migrated_engine) as b:
            await SqlFileRepository(a).hold_quota(tenant)
            await asyncio.wait_for(SqlFileRepository(b).hold_quota(other), timeout=2)
            await a.commit()
            await b.commit()


async def test_mark_ready_completes_a_pending_row_once(store: Store) -> None:
    tenant = await a_tenant(store)
    waiting = replace(a_file(tenant, "w.pdf"), status=FileStatus.PENDING, sha256="")
    waiting.storage_key = f"uploads/incoming/{waiting.id}.pdf"
    await stored(store, waiting)
    later = NOW + timedelta(minutes=3)
    ready = replace(
        waiting,
        status=FileStatus.READY,
        storage_key=f"uploads/documents/{waiting.id}-v1.pdf",
        size_bytes=7,
        sha256="cd" * 32,
        uploaded_at=later,
        updated_at=later,
    )
    async with store.unit() as unit:
        repository = unit.files
        assert await repository.mark_ready(ready)
        second = replace(ready, storage_key=f"uploads/documents/{waiting.id}-v2.pdf")
        assert not await repository.mark_ready(second)  # already ready: the first one stands
        await unit.commit()
    async with store.unit() as unit:
        assert await unit.files.get(waiting.id) == ready
        gone = replace(ready, id=uuid.uuid4())
        assert not await unit.files.mark_ready(gone)
