"""`FileRepository`'s reconciliation queries on SQLite, PostgreSQL and the fake: which keys
have a row, stale pending rows, deleting a row only while pending, and ready rows by id."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from tessera.features.files.domain.file import FileStatus, StoredFile
from tests.contract.stores import Store
from tests.contract.test_file_repository import NOW, a_file, a_tenant, stored


def pending(tenant: uuid.UUID, minutes: int) -> StoredFile:
    file = a_file(tenant, "p.pdf", minutes=minutes)
    return replace(file, status=FileStatus.PENDING, sha256="")


async def test_keys_in_names_the_keys_rows_hold_across_tenants(
    store: Store,
) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    ready, waiting = a_file(acme, "a.pdf"), pending(globex, 0)
    await stored(store, ready, waiting)
    async with store.unit() as unit:
        repository = unit.files
        asked = [ready.storage_key, waiting.storage_key, "uploads/documents/none.pdf"]
        assert await repository.keys_in(asked) == {ready.storage_key, waiting.storage_key}
        assert await repository.keys_in([]) == set()


async def test_stale_pending_rows_come_oldest_first_up_to_the_limit(
    store: Store,
) -> None:
    tenant = await a_tenant(store)
    oldest, older, at_cutoff = pending(tenant, -30), pending(tenant, -20), pending(tenant, 0)
    ready_old = a_file(tenant, "r.pdf", minutes=-60)
    await stored(store, at_cutoff, older, oldest, ready_old)
    async with store.unit() as unit:
        repository = unit.files
        assert [f.id for f in await repository.stale_pending(NOW, limit=10)] == [
            oldest.id,
            older.id,
        ]
        assert [f.id for f in await repository.stale_pending(NOW, limit=1)] == [oldest.id]
        later = NOW + timedelta(seconds=1)
        assert len(await repository.stale_pending(later, limit=10)) == 3


async def test_remove_pending_leaves_a_ready_row(store: Store) -> None:
    tenant = await a_tenant(store)
    waiting, ready = pending(tenant, 0), a_file(tenant, "r.pdf")
    await stored(store, waiting, ready)
    async with store.unit() as unit:
        repository = unit.files
        assert await repository.remove_pending(waiting.id)
        assert not await repository.remove_pending(waiting.id)
        assert not await repository.remove_pending(ready.id)
        await unit.commit()
    async with store.unit() as unit:
        repository = unit.files
        assert await repository.get(waiting.id) is None
        assert await repository.get(ready.id) == ready


async def test_ready_rows_are_walked_by_id_in_batches(store: Store) -> None:
    acme, globex = await a_tenant(store), await a_tenant(store)
    ready = [a_file(acme if i % 2 else globex, f"{i}.pdf") for i in range(5)]
    await stored(store, *ready, pending(acme, 0))
    walked: list[uuid.UUID] = []
    async with store.unit() as unit:
        repository = unit.files
        after: uuid.UUID | None = None
        while batch := await repository.ready_after(after, limit=2):
            assert len(batch) <= 2
            walked += [f.id for f in batch]
            after = batch[-1].id
    assert sorted(map(str, walked)) == sorted(str(f.id) for f in ready)
    assert len(walked) == len(set(walked)) == 5
