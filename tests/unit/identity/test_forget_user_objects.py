"""After the purge: `ForgetUserObjects` deletes the user's avatar objects and only those,
and `UserPurgedJob` runs it for a `user.purged` job, refusing a payload that is not one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tessera.features.identity.adapters.user_purged_job import USER_PURGED, UserPurgedJob
from tessera.features.identity.application.forget_user_objects import ForgetUserObjects
from tessera.features.jobs.domain.job import Job
from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput
from tests.fakes.memory_storage import MemoryStorage

USER = uuid.UUID("3f2c8a1e-0000-4000-8000-000000000001")
OTHER = uuid.UUID("3f2c8a1e-0000-4000-8000-000000000002")


class UnavailableStorage(MemoryStorage):
    """Deletes fail as the adapters report an unreachable store."""

    async def delete(self, key: str) -> None:
        raise DependencyUnavailable()


async def stocked(storage: MemoryStorage) -> MemoryStorage:
    for key in (
        f"avatars/{USER}/avatar-v1.png",
        f"avatars/{USER}/avatar-v2.webp",
        f"avatars/{OTHER}/avatar-v1.jpg",  # another user
        f"avatars/{USER}x/avatar-v1.png",  # a neighbour whose name starts with the id
        f"avatars/{USER}.png",  # not in the folder either
        f"uploads/{USER}/report.pdf",  # another feature's object: not identity's to delete
    ):
        await storage.put(key, b"bytes", content_type="image/png")
    return storage


def job(data: dict[str, Any]) -> Job:
    return Job(
        job_id=str(uuid.uuid4()),
        type=USER_PURGED,
        data=data,
        attempts=0,
        created_at="2026-03-01T12:00:00+00:00",
    )


async def test_every_avatar_of_the_user_goes_and_nothing_else() -> None:
    storage = await stocked(MemoryStorage())
    assert await ForgetUserObjects(storage).execute(USER) == 2
    assert sorted(storage.deleted) == [
        f"avatars/{USER}/avatar-v1.png",
        f"avatars/{USER}/avatar-v2.webp",
    ]
    assert sorted(storage.objects) == sorted(
        [
            f"avatars/{OTHER}/avatar-v1.jpg",
            f"avatars/{USER}.png",
            f"avatars/{USER}x/avatar-v1.png",
            f"uploads/{USER}/report.pdf",
        ]
    )


async def test_running_it_again_finds_nothing_and_deletes_nothing() -> None:
    storage = await stocked(MemoryStorage())
    forget = ForgetUserObjects(storage)
    await forget.execute(USER)
    left = dict(storage.objects)
    storage.deleted.clear()
    assert await forget.execute(USER) == 0
    assert storage.deleted == []
    assert storage.objects == left


async def test_a_user_without_objects_is_zero() -> None:
    storage = await stocked(MemoryStorage())
    assert await ForgetUserObjects(storage).execute(uuid.uuid4()) == 0
    assert len(storage.objects) == 6


async def test_an_unavailable_store_propagates_so_the_job_is_retried() -> None:
    storage = await stocked(UnavailableStorage())
    with pytest.raises(DependencyUnavailable):
        await ForgetUserObjects(storage).execute(USER)
    assert f"avatars/{USER}/avatar-v1.png" in storage.objects


async def test_the_handler_forgets_the_objects_of_the_user_in_the_payload() -> None:
    storage = await stocked(MemoryStorage())
    handler = UserPurgedJob(ForgetUserObjects(storage))
    await handler.handle(job({"user_id": str(USER), "tenant_id": str(uuid.uuid4())}))
    assert not [key for key in storage.objects if key.startswith(f"avatars/{USER}/")]
    assert f"avatars/{OTHER}/avatar-v1.jpg" in storage.objects


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"user_id": str(USER)},  # no tenant_id
        {"user_id": "not-a-uuid", "tenant_id": str(uuid.uuid4())},
        {"user_id": 42, "tenant_id": str(uuid.uuid4())},
        {"user_id": None, "tenant_id": str(uuid.uuid4())},
    ],
)
async def test_a_payload_that_is_not_a_user_purged_is_invalid_input(data: dict[str, Any]) -> None:
    storage = await stocked(MemoryStorage())
    with pytest.raises(InvalidInput):
        await UserPurgedJob(ForgetUserObjects(storage)).handle(job(data))
    assert storage.deleted == []
    assert len(storage.objects) == 6


async def test_an_unavailable_store_is_not_taken_for_invalid_input() -> None:
    """`RunJob` buries `InvalidInput` at once; an outage must stay retryable."""
    storage = await stocked(UnavailableStorage())
    handler = UserPurgedJob(ForgetUserObjects(storage))
    with pytest.raises(DependencyUnavailable) as caught:
        await handler.handle(job({"user_id": str(USER), "tenant_id": str(uuid.uuid4())}))
    assert not isinstance(caught.value, InvalidInput)
