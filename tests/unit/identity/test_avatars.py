"""Avatar rules (domain) and the `ChangeAvatar`, `RemoveAvatar`, `AvatarLink` use cases on
fakes: keys and versions, object metadata, ordering around the commit, cache, events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import pytest

from tessera.features.identity.adapters.pillow_images import PillowImageProcessor
from tessera.features.identity.application.accounts import IdentityConfig, Profile, profile_key
from tessera.features.identity.application.avatars import AvatarLink, ChangeAvatar, RemoveAvatar
from tessera.features.identity.application.ports import ImageProcessor, ProcessedImage
from tessera.features.identity.domain.avatar import (
    AvatarFormat,
    AvatarNotFound,
    AvatarObject,
    AvatarTooLarge,
    InvalidImage,
    current_avatar,
    next_avatar,
    sniff_format,
)
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.user import User
from tessera.shared.domain.caller import Principal
from tests.fakes.memory_storage import MemoryStorage
from tests.fakes.unit_of_work import CommitFailed, FakeUnitOfWork
from tests.unit.identity.harness import Identity
from tests.unit.identity.images import HTML, SVG, image_bytes

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BASE = "https://tessera.example"
USER = uuid.UUID("00000000-0000-4000-8000-000000000001")


# --- domain ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", AvatarFormat.JPEG),
        (b"\x89PNG\r\n\x1a\n...", AvatarFormat.PNG),
        (b"RIFF\x10\0\0\0WEBPVP8 ", AvatarFormat.WEBP),
        (b"RIFF\x10\0\0\0WAVEfmt ", None),
        (HTML, None),
        (SVG, None),
        (b"%PDF-1.4", None),
        (b"GIF89a", None),
        (b"", None),
        (b"\x89PNG", None),
    ],
)
def test_the_magic_bytes_decide_the_format(head: bytes, expected: AvatarFormat | None) -> None:
    assert sniff_format(head) is expected


def test_keys_are_versioned_under_the_users_folder() -> None:
    first = AvatarObject.first(USER, AvatarFormat.JPEG)
    assert first.key == f"avatars/{USER}/avatar-v1.jpg"
    assert first.next(AvatarFormat.WEBP).key == f"avatars/{USER}/avatar-v2.webp"
    assert first.url(BASE + "/") == f"{BASE}/api/v1/users/{USER}/avatar?v=1.jpg"


def test_the_next_version_follows_our_own_current_one() -> None:
    ours = AvatarObject(USER, 7, AvatarFormat.PNG).url(BASE)
    assert current_avatar(USER, ours) == AvatarObject(USER, 7, AvatarFormat.PNG)
    assert next_avatar(USER, ours, AvatarFormat.JPEG).key == f"avatars/{USER}/avatar-v8.jpg"
    # another host (PUBLIC_BASE_URL changed) is still ours: the path and the user decide
    moved = AvatarObject(USER, 3, AvatarFormat.PNG).url("http://old.example")
    assert next_avatar(USER, moved, AvatarFormat.PNG).version == 4


@pytest.mark.parametrize(
    "url",
    [
        None,
        "https://gravatar.example/a.png",
        "ftp://x/api/v1/users/{u}/avatar?v=3.png",
        "https://x/api/v1/users/{other}/avatar?v=3.png",
        "https://x/api/v1/users/{u}/avatar?v=3.gif",
        "https://x/api/v1/users/{u}/avatar?v=3.png&x=1",
        "https://x/api/v1/users/{u}/avatar?v=0.png",
        "https://x/api/v1/users/{u}/avatar?v=../../x.png",
    ],
)
def test_anything_else_is_not_ours_and_starts_at_version_1(url: str | None) -> None:
    if url is not None:
        url = url.format(u=USER, other=uuid.uuid4())
    assert current_avatar(USER, url) is None
    assert next_avatar(USER, url, AvatarFormat.PNG).version == 1


# --- use cases -------------------------------------------------------------------------


class StorageAtCommit:
    """Notes, at each commit of the unit of work, which objects the storage holds: a row
    must never point at an object that is not there yet, nor lose one it still points at."""

    def __init__(self, storage: MemoryStorage, unit_of_work: FakeUnitOfWork) -> None:
        self._storage = storage
        self.seen: list[list[str]] = []
        unit_of_work.enlist(self)

    def keep_writes(self) -> None:
        self.seen.append(sorted(self._storage.objects))

    def drop_writes(self) -> None:
        return None


@dataclass
class World(Identity):
    """The identity fakes, an object store, and what it held at each commit."""

    storage: MemoryStorage = field(default_factory=MemoryStorage)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.at_commit = StorageAtCommit(self.storage, self.unit_of_work)

    async def add(self, tenant: uuid.UUID | None = None) -> User:
        user = await self.a_user(f"{uuid.uuid4().hex}@ex.com", tenant_id=tenant)
        self.at_commit.seen.clear()
        return user

    async def put(self, user: User) -> None:
        """The row as the test changed it, committed."""
        await self.users.save(user)
        await self.unit_of_work.commit()
        self.at_commit.seen.clear()

    def events(self) -> list[str]:
        return [event.type for event in self.outbox.events if event.type == "user.updated"]


CONFIG = IdentityConfig(
    access_ttl_seconds=60,
    refresh_ttl_seconds=60,
    idle_ttl_seconds=60,
    require_verified_email=False,
    public_base_url=BASE,
)


def change(world: World, images: ImageProcessor | None = None) -> ChangeAvatar:
    return ChangeAvatar(
        world.users,
        images or PillowImageProcessor(),
        world.storage,
        world.cache,
        world.outbox,
        world.unit_of_work,
        world.clock,
        CONFIG,
    )


def remove(world: World) -> RemoveAvatar:
    return RemoveAvatar(
        world.users, world.storage, world.cache, world.outbox, world.unit_of_work, world.clock
    )


def link(world: World) -> AvatarLink:
    return AvatarLink(world.users, world.storage)


def principal(user: User) -> Principal:
    return Principal(user.id, user.tenant_id, user.role, uuid.uuid4())


@pytest.fixture
def world() -> World:
    return World()


async def cache_profile(world: World, user: User) -> None:
    await world.cache.set(
        profile_key(user.id), msgspec.json.encode(Profile.of(user)), ttl_seconds=300
    )


async def test_an_upload_is_stored_with_its_metadata_and_becomes_the_avatar(world: World) -> None:
    user = await world.add()
    await cache_profile(world, user)
    profile = await change(world).execute(principal(user), image_bytes("PNG"))
    key = f"avatars/{user.id}/avatar-v1.png"
    assert profile.avatar_url == f"{BASE}/api/v1/users/{user.id}/avatar?v=1.png"
    assert world.stored(user).avatar_url == profile.avatar_url
    data, stored = world.storage.objects[key]
    assert stored.content_type == "image/png"
    assert stored.metadata == {
        "user_id": str(user.id),
        "uploaded_at": NOW.isoformat(),
        "content_type": "image/png",
        "size_bytes": str(len(data)),
    }
    assert world.at_commit.seen == [[key]]  # the object existed before the row pointed at it
    [event] = world.outbox.of_type("user.updated")
    assert event.payload["avatar_url"] == profile.avatar_url
    assert await world.cache.get(profile_key(user.id)) is None


async def test_a_second_upload_is_the_next_version_and_the_old_one_goes(world: World) -> None:
    user = await world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    profile = await change(world).execute(principal(user), image_bytes("JPEG"))
    assert str(profile.avatar_url).endswith("?v=2.jpg")
    assert list(world.storage.objects) == [f"avatars/{user.id}/avatar-v2.jpg"]
    # the old version was deleted only after the commit that stopped pointing at it
    assert world.at_commit.seen[-1] == [
        f"avatars/{user.id}/avatar-v1.png",
        f"avatars/{user.id}/avatar-v2.jpg",
    ]


async def test_an_external_avatar_url_is_replaced_and_never_deleted(world: World) -> None:
    user = await world.add()
    user.avatar_url = "https://gravatar.example/me.png"
    await world.put(user)
    await change(world).execute(principal(user), image_bytes("WEBP"))
    assert world.stored(user).avatar_url == f"{BASE}/api/v1/users/{user.id}/avatar?v=1.webp"
    assert world.storage.deleted == []


async def test_a_failed_commit_removes_the_new_object_and_keeps_the_old(world: World) -> None:
    user = await world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    world.unit_of_work.fail_next_commit = True
    with pytest.raises(CommitFailed):
        await change(world).execute(principal(user), image_bytes("PNG"))
    assert list(world.storage.objects) == [f"avatars/{user.id}/avatar-v1.png"]
    assert str(world.stored(user).avatar_url).endswith("?v=1.png")


async def test_a_failed_delete_of_the_old_version_only_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user = await world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    world.storage.fail_deletes = True
    profile = await change(world).execute(principal(user), image_bytes("PNG"))
    assert str(profile.avatar_url).endswith("?v=2.png")
    assert "avatar object not deleted" in caplog.text


class CountingImages:
    def __init__(self) -> None:
        self.calls = 0

    async def normalise(self, data: bytes) -> ProcessedImage:
        self.calls += 1
        return ProcessedImage(data, AvatarFormat.PNG, 1, 1)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (HTML, InvalidImage),
        (SVG, InvalidImage),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (5 << 20), AvatarTooLarge),
    ],
)
async def test_refused_uploads_change_nothing_and_reach_no_decoder(
    world: World, body: bytes, error: type[Exception]
) -> None:
    user = await world.add()
    images = CountingImages()
    with pytest.raises(error):
        await change(world, images).execute(principal(user), body)
    assert images.calls == 0
    assert (world.storage.objects, world.events(), world.stored(user).avatar_url) == (
        {},
        [],
        None,
    )


async def test_a_deleted_user_cannot_upload(world: World) -> None:
    user = await world.add()
    user.soft_delete(NOW)
    await world.put(user)
    with pytest.raises(InvalidToken):
        await change(world).execute(principal(user), image_bytes("PNG"))
    assert world.storage.objects == {}


async def test_removing_clears_the_url_deletes_the_object_and_the_cache(world: World) -> None:
    user = await world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    await cache_profile(world, user)
    profile = await remove(world).execute(principal(user))
    assert (profile.avatar_url, world.stored(user).avatar_url) == (None, None)
    assert world.storage.objects == {}
    assert world.events() == ["user.updated", "user.updated"]  # the upload's, the removal's
    assert await world.cache.get(profile_key(user.id)) is None
    # and the next upload starts again at version 1
    again = await change(world).execute(principal(user), image_bytes("PNG"))
    assert str(again.avatar_url).endswith("?v=1.png")


async def test_removing_an_external_url_or_nothing(world: World) -> None:
    user = await world.add()
    assert (await remove(world).execute(principal(user))).avatar_url is None
    assert world.events() == []  # nothing to change, nothing recorded
    user.avatar_url = "https://gravatar.example/me.png"
    await world.put(user)
    assert (await remove(world).execute(principal(user))).avatar_url is None
    assert world.storage.deleted == []
    assert world.events() == ["user.updated"]


async def test_the_link_is_for_the_same_tenant_only(world: World) -> None:
    owner = await world.add()
    colleague = await world.add(owner.tenant_id)
    stranger = await world.add()
    await change(world).execute(principal(owner), image_bytes("PNG"))
    url = await link(world).execute(principal(colleague), owner.id)
    assert url == f"https://store.test/avatars/{owner.id}/avatar-v1.png?expires=300"
    assert await link(world).execute(principal(owner), owner.id) == url
    with pytest.raises(AvatarNotFound):
        await link(world).execute(principal(stranger), owner.id)
    with pytest.raises(AvatarNotFound):  # no uploaded avatar
        await link(world).execute(principal(owner), colleague.id)
    with pytest.raises(AvatarNotFound):
        await link(world).execute(principal(owner), uuid.uuid4())
    colleague.avatar_url = "https://gravatar.example/me.png"
    await world.put(colleague)
    with pytest.raises(AvatarNotFound):  # external: not served here
        await link(world).execute(principal(owner), colleague.id)
