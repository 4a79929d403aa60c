"""Avatar rules (domain) and the `ChangeAvatar`, `RemoveAvatar`, `AvatarLink` use cases on
fakes: keys and versions, object metadata, ordering around the commit, cache, events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import msgspec
import pytest

from tessera.features.identity.adapters.pillow_images import PillowImageProcessor
from tessera.features.identity.application.accounts import IdentityConfig, Profile, profile_key
from tessera.features.identity.application.avatars import AvatarLink, ChangeAvatar, RemoveAvatar
from tessera.features.identity.application.ports import (
    ImageProcessor,
    ProcessedImage,
    UserRepository,
)
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
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.storage import FileStorage
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event
from tests.fakes.memory_storage import MemoryStorage
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


class World:
    """One user repository, outbox and unit of work; the storage checks, at each commit,
    that the object the row points at already exists."""

    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.staged: list[Event] = []
        self.events: list[Event] = []
        self.cache = InMemoryCache()
        self.storage = MemoryStorage()
        self.fail_commit = False
        self.log: list[str] = []

    def add(self, tenant: uuid.UUID | None = None) -> User:
        user = User.register(
            tenant_id=tenant or uuid.uuid4(),
            email=f"{uuid.uuid4().hex}@ex.com",
            password_hash="h",
            full_name="Someone",
            role=Role.USER,
            now=NOW,
        )
        self.users[user.id] = user
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        user = self.users.get(user_id)
        return None if user is None or user.deleted_at else user

    async def save(self, user: User) -> None:
        user.changed.clear()

    def record(self, event: Event) -> None:
        self.staged.append(event)

    async def commit(self) -> None:
        if self.fail_commit:
            raise ConnectionError("database down")
        self.log.append("commit:" + ",".join(sorted(self.storage.objects)))
        self.events += self.staged
        self.staged = []

    def now(self) -> datetime:
        return NOW


class Users:
    def __init__(self, world: World) -> None:
        self.get, self.save = world.get, world.save


CONFIG = IdentityConfig(
    access_ttl_seconds=60,
    refresh_ttl_seconds=60,
    idle_ttl_seconds=60,
    require_verified_email=False,
    public_base_url=BASE,
)


def change(world: World, images: ImageProcessor | None = None) -> ChangeAvatar:
    return ChangeAvatar(
        cast(UserRepository, Users(world)),
        images or PillowImageProcessor(),
        cast(FileStorage, world.storage),
        world.cache,
        world,
        world,
        world,
        CONFIG,
    )


def remove(world: World) -> RemoveAvatar:
    return RemoveAvatar(
        cast(UserRepository, Users(world)),
        cast(FileStorage, world.storage),
        world.cache,
        world,
        world,
        world,
    )


def link(world: World) -> AvatarLink:
    return AvatarLink(cast(UserRepository, Users(world)), cast(FileStorage, world.storage))


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
    user = world.add()
    await cache_profile(world, user)
    profile = await change(world).execute(principal(user), image_bytes("PNG"))
    key = f"avatars/{user.id}/avatar-v1.png"
    assert profile.avatar_url == f"{BASE}/api/v1/users/{user.id}/avatar?v=1.png"
    assert user.avatar_url == profile.avatar_url
    data, stored = world.storage.objects[key]
    assert stored.content_type == "image/png"
    assert stored.metadata == {
        "user_id": str(user.id),
        "uploaded_at": NOW.isoformat(),
        "content_type": "image/png",
        "size_bytes": str(len(data)),
    }
    assert world.log == [f"commit:{key}"]  # the object existed before the row pointed at it
    assert [e.type for e in world.events] == ["user.updated"]
    assert world.events[0].payload["avatar_url"] == profile.avatar_url
    assert await world.cache.get(profile_key(user.id)) is None


async def test_a_second_upload_is_the_next_version_and_the_old_one_goes(world: World) -> None:
    user = world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    profile = await change(world).execute(principal(user), image_bytes("JPEG"))
    assert str(profile.avatar_url).endswith("?v=2.jpg")
    assert list(world.storage.objects) == [f"avatars/{user.id}/avatar-v2.jpg"]
    # the old version was deleted only after the commit that stopped pointing at it
    assert world.log[-1] == (
        f"commit:avatars/{user.id}/avatar-v1.png,avatars/{user.id}/avatar-v2.jpg"
    )


async def test_an_external_avatar_url_is_replaced_and_never_deleted(world: World) -> None:
    user = world.add()
    user.avatar_url = "https://gravatar.example/me.png"
    await change(world).execute(principal(user), image_bytes("WEBP"))
    assert user.avatar_url == f"{BASE}/api/v1/users/{user.id}/avatar?v=1.webp"
    assert world.storage.deleted == []


async def test_a_failed_commit_removes_the_new_object_and_keeps_the_old(world: World) -> None:
    user = world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    world.fail_commit = True
    with pytest.raises(ConnectionError):
        await change(world).execute(principal(user), image_bytes("PNG"))
    assert list(world.storage.objects) == [f"avatars/{user.id}/avatar-v1.png"]


async def test_a_failed_delete_of_the_old_version_only_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user = world.add()
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
    user = world.add()
    images = CountingImages()
    with pytest.raises(error):
        await change(world, images).execute(principal(user), body)
    assert images.calls == 0
    assert (world.storage.objects, world.events, user.avatar_url) == ({}, [], None)


async def test_a_deleted_user_cannot_upload(world: World) -> None:
    user = world.add()
    user.soft_delete(NOW)
    with pytest.raises(InvalidToken):
        await change(world).execute(principal(user), image_bytes("PNG"))
    assert world.storage.objects == {}


async def test_removing_clears_the_url_deletes_the_object_and_the_cache(world: World) -> None:
    user = world.add()
    await change(world).execute(principal(user), image_bytes("PNG"))
    await cache_profile(world, user)
    world.events.clear()
    profile = await remove(world).execute(principal(user))
    assert (profile.avatar_url, user.avatar_url) == (None, None)
    assert world.storage.objects == {}
    assert [e.type for e in world.events] == ["user.updated"]
    assert await world.cache.get(profile_key(user.id)) is None
    # and the next upload starts again at version 1
    again = await change(world).execute(principal(user), image_bytes("PNG"))
    assert str(again.avatar_url).endswith("?v=1.png")


async def test_removing_an_external_url_or_nothing(world: World) -> None:
    user = world.add()
    assert (await remove(world).execute(principal(user))).avatar_url is None
    assert world.events == []  # nothing to change, nothing recorded
    user.avatar_url = "https://gravatar.example/me.png"
    assert (await remove(world).execute(principal(user))).avatar_url is None
    assert world.storage.deleted == []
    assert [e.type for e in world.events] == ["user.updated"]


async def test_the_link_is_for_the_same_tenant_only(world: World) -> None:
    owner = world.add()
    colleague = world.add(owner.tenant_id)
    stranger = world.add()
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
    with pytest.raises(AvatarNotFound):  # external: not served here
        await link(world).execute(principal(owner), colleague.id)
