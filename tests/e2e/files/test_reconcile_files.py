"""The housekeeping through the real container (SQLite, local storage): an object left under
`uploads/` without a row is deleted once old, while an uploaded file, a fresh orphan and an
old avatar stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dishka import AsyncContainer

from tessera.features.jobs.application.run_housekeeping import RunHousekeeping
from tessera.shared.application.storage import ObjectNotFound
from tests.e2e.files.test_files import FILES, signed_in, uploaded
from tests.e2e.harness import app_storage, on_app_loop, without_embedded_schedules
from tests.e2e.identity.conftest import Client
from tests.unit.files.samples import PDF


@pytest.fixture(autouse=True)
def _no_scheduled_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    without_embedded_schedules(monkeypatch)


def age(root: Path, key: str, *, hours: float) -> None:
    """Local storage's `last_modified` is the object file's mtime."""
    then = time.time() - hours * 3600
    os.utime(root / "storage" / "objects" / key, (then, then))


async def test_housekeeping_deletes_an_old_orphan_and_keeps_real_files(
    client: Client, tmp_path: Path
) -> None:
    headers = await signed_in(client)
    file = await uploaded(client, headers, PDF, "report.pdf")
    store = await app_storage(client)
    orphan, fresh = "uploads/documents/orphan.pdf", "uploads/documents/fresh.pdf"
    avatar = "avatars/someone/avatar-v1.png"
    for key in (orphan, fresh, avatar):
        await store.put(key, b"bytes", content_type="application/octet-stream")
    age(tmp_path, orphan, hours=2)
    age(tmp_path, avatar, hours=2)
    (real_key,) = [o.key async for o in store.list("uploads/") if o.key not in (orphan, fresh)]
    age(tmp_path, real_key, hours=2)  # an old file with its row is never an orphan

    async def housekeeping(container: AsyncContainer) -> dict[str, int]:
        async with container() as request:
            return await (await request.get(RunHousekeeping)).execute()

    done = await on_app_loop(client, housekeeping)

    assert done["ReconcileFiles"] == 1
    with pytest.raises(ObjectNotFound):
        await store.head(orphan)
    assert (await store.head(fresh)).size_bytes == 5
    assert (await store.head(avatar)).size_bytes == 5
    assert (await store.head(real_key)).size_bytes == len(PDF)
    response = await client.get(f"{FILES}/{file['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ready"
