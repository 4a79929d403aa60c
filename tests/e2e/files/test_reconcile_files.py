"""The housekeeping through the real container: an object left under `uploads/` without a row
is deleted once old, while an uploaded file, a fresh orphan and an old avatar stay (SQLite,
local storage); a file whose object an earlier version wrote without its download name gets
it, so its link is an attachment again (that, and on PostgreSQL with S3)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from dishka import AsyncContainer

from tessera.features.jobs.application.run_housekeeping import RunHousekeeping
from tessera.shared.application.storage import ObjectNotFound
from tests import services
from tests.e2e.files.conftest import s3_production_app
from tests.e2e.files.test_files import FILES, path_of, signed_in, uploaded
from tests.e2e.harness import app_storage, on_app_loop, without_embedded_schedules
from tests.e2e.identity.conftest import SECRET, Client, embedded_client
from tests.unit.files.samples import PDF


@pytest.fixture(autouse=True)
def _no_scheduled_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    without_embedded_schedules(monkeypatch)


async def housekeeping(container: AsyncContainer) -> dict[str, int]:
    async with container() as request:
        return await (await request.get(RunHousekeeping)).execute()


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


@pytest.fixture(
    params=["local", pytest.param("s3", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
async def any_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Client]:
    if request.param == "local":
        async with embedded_client(
            tmp_path, rate_limit_enabled="false", jwt_secret_key=SECRET
        ) as client:
            yield client
        return
    async with (
        services.redis_namespace() as prefix,
        s3_production_app(tmp_path, prefix, request.getfixturevalue("s3_server")) as client,
    ):
        yield client


async def test_a_file_stored_without_its_download_name_gets_it(any_client: Client) -> None:
    client = any_client
    headers = await signed_in(client)
    file = await uploaded(client, headers, PDF, "Q3 report.pdf")
    store = await app_storage(client)
    (key,) = [stored.key async for stored in store.list("uploads/")]
    written = await store.head(key)
    await store.put(key, PDF, content_type="application/pdf", metadata=written.metadata)

    async def download() -> httpx.Response:
        detail = (await client.get(f"{FILES}/{file['id']}", headers=headers)).json()["data"]
        url = detail["download_url"]
        if url.startswith("http://localhost"):  # the app's own route
            return await client.get(path_of(url))
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.get(url)

    assert "content-disposition" not in (await download()).headers  # as an earlier version

    done = await on_app_loop(client, housekeeping)

    assert done["ReconcileFiles"] == 1
    response = await download()
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''Q3%20report.pdf"
    )
    assert dict((await store.head(key)).metadata) == dict(written.metadata)
    assert (await on_app_loop(client, housekeeping))["ReconcileFiles"] == 0
