"""A deleted account's avatars and files go once the account is purged for good, through the
real embedded app (SQLite, local storage under DATA_DIR, the in-process background): the
housekeeping's purge records `user.purged`, and its job deletes the objects."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dishka import AsyncContainer
from sqlalchemy import select, update

from tessera.features.files.adapters.models import FileModel
from tessera.features.identity.adapters.models import UserModel
from tessera.features.jobs.application.run_housekeeping import RunHousekeeping
from tessera.shared.adapters.database import create_engine
from tessera.shared.adapters.outbox import OutboxModel
from tessera.shared.application.storage import FileStorage
from tests import services
from tests.e2e.files.test_files import uploaded
from tests.e2e.harness import app_settings, app_storage, on_app_loop, without_embedded_schedules
from tests.e2e.identity.conftest import Client
from tests.e2e.identity.test_avatars import fetch_avatar, signed_in, upload
from tests.unit.identity.images import image_bytes


@pytest.fixture(autouse=True)
def _no_scheduled_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    without_embedded_schedules(monkeypatch)


PDF = b"%PDF-1.7\n" + b"x" * 2000


async def keys_under(store: FileStorage, prefix: str) -> list[str]:
    return [stored.key async for stored in store.list(prefix)]


async def deleted_long_ago(client: Client, user_id: str) -> None:
    """Moves the account's `deleted_at` past the retention, straight in the database through
    an engine of this test's own (the app's belongs to the app's event loop)."""
    settings = await app_settings(client)
    moment = datetime.now(UTC) - timedelta(days=settings.account_retention_days + 1)
    engine = create_engine(services.as_owner(settings.database_url))
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                update(UserModel)
                .where(UserModel.id == uuid.UUID(user_id), UserModel.deleted_at.is_not(None))
                .values(deleted_at=moment)
            )
            assert result.rowcount == 1
    finally:
        await engine.dispose()


async def housekeeping(client: Client) -> dict[str, Any]:
    """The hourly housekeeping, run on the app's own event loop, so the relay after its
    commit and the job it starts run in the embedded background."""

    async def run(container: AsyncContainer) -> dict[str, Any]:
        async with container() as request:
            return dict(await (await request.get(RunHousekeeping)).execute())

    return await on_app_loop(client, run)


async def purge_jobs(client: Client) -> list[tuple[str, dict[str, Any] | None]]:
    settings = await app_settings(client)
    engine = create_engine(services.as_owner(settings.database_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(OutboxModel.status, OutboxModel.payload).where(
                    OutboxModel.event_type == "user.purged"
                )
            )
            return [(status, payload) for status, payload in rows]
    finally:
        await engine.dispose()


async def file_rows(client: Client) -> set[str]:
    settings = await app_settings(client)
    engine = create_engine(services.as_owner(settings.database_url))
    try:
        async with engine.connect() as connection:
            return {str(row) for row in (await connection.execute(select(FileModel.id))).scalars()}
    finally:
        await engine.dispose()


async def test_purging_a_deleted_account_deletes_its_avatars_and_files(client: Client) -> None:
    alice_headers, alice = await signed_in(client, "alice@example.com")
    bob_headers, bob = await signed_in(client, "bob@example.com")
    assert (await upload(client, alice_headers, image_bytes("PNG"))).status_code == 200
    response = await upload(client, alice_headers, image_bytes("WEBP"), "a.webp", "image/webp")
    assert response.status_code == 200, response.text
    assert (await upload(client, bob_headers, image_bytes("PNG"))).status_code == 200
    alice_file = await uploaded(client, alice_headers, PDF)
    bob_file = await uploaded(client, bob_headers, PDF)
    store = await app_storage(client)
    # a replaced version left behind (e.g. a failed cleanup) goes with the account as well
    await store.put(f"avatars/{alice}/avatar-v1.png", image_bytes("PNG"), content_type="image/png")
    assert await keys_under(store, f"avatars/{alice}/") == [
        f"avatars/{alice}/avatar-v1.png",
        f"avatars/{alice}/avatar-v2.webp",
    ]

    deleted = await client.delete("/api/v1/users/me", headers=alice_headers)
    assert deleted.status_code == 200, deleted.text
    assert len(await keys_under(store, f"avatars/{alice}/")) == 2  # only soft-deleted so far
    await deleted_long_ago(client, alice)

    done = await housekeeping(client)
    assert done["PurgeDeletedAccounts"] == 1

    deadline = asyncio.get_running_loop().time() + 10
    while await keys_under(store, f"avatars/{alice}/"):
        assert asyncio.get_running_loop().time() < deadline, "avatar objects still there"
        await asyncio.sleep(0.1)
    jobs = await purge_jobs(client)
    while jobs[0][0] != "done":  # the job's own transaction commits after the deletions
        assert asyncio.get_running_loop().time() < deadline, f"job not done: {jobs}"
        await asyncio.sleep(0.1)
        jobs = await purge_jobs(client)
    assert len(jobs) == 1

    assert await keys_under(store, f"avatars/{bob}/") == [f"avatars/{bob}/avatar-v1.png"]
    # and the files feature's part of the same job: her files, rows and objects, are gone
    uploads = await keys_under(store, "uploads/")
    assert uploads == [f"uploads/documents/{bob_file['id']}.pdf"]
    assert f"uploads/documents/{alice_file['id']}.pdf" not in uploads
    bobs = await client.get(f"/api/v1/files/{bob_file['id']}", headers=bob_headers)
    assert bobs.status_code == 200
    assert await file_rows(client) == {bob_file["id"]}
    bob_me = (await client.get("/api/v1/users/me", headers=bob_headers)).json()["data"]
    assert bob_me["avatar_url"].endswith(f"/api/v1/users/{bob}/avatar?v=1.png")
    assert (await fetch_avatar(client, bob_headers, bob_me["avatar_url"])).startswith(b"\x89PNG")
