"""Avatars (SPEC §3.4): upload, removal, and the link behind `avatar_url`.

`avatar_url` holds a stable API address (`PUBLIC_BASE_URL/api/v1/users/{id}/avatar?v=3.png`,
never a presigned URL, which would expire); `AvatarLink` turns it into a short-lived
`FileStorage.download_url` on each read. The object is written before the row is committed
and the previous version deleted after, so the row never points at a missing object; a
failed commit removes the new object again, a failed removal of the old one only logs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import msgspec

from tessera.features.identity.application.accounts import (
    IdentityConfig,
    Profile,
    live_user,
    profile_key,
)
from tessera.features.identity.application.ports import ImageProcessor, UserRepository
from tessera.features.identity.domain.avatar import (
    AvatarNotFound,
    check_upload,
    current_avatar,
    next_avatar,
)
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.storage import FileStorage
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")

AVATAR_LINK_TTL = timedelta(minutes=5)


class ChangeAvatar:
    """Check (size, magic bytes, pixel limit from the header), re-encode without metadata,
    store as `avatars/{user_id}/avatar-v{n}.{ext}` with the metadata `user_id`,
    `uploaded_at`, `content_type`, `size_bytes`, point `avatar_url` at it, record
    `user.updated`, commit, delete the previous version, drop the cached profile."""

    def __init__(
        self,
        users: UserRepository,
        images: ImageProcessor,
        storage: FileStorage,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
    ) -> None:
        self._users, self._images, self._storage = users, images, storage
        self._cache, self._outbox, self._uow = cache, outbox, unit_of_work
        self._clock, self._config = clock, config

    async def execute(self, principal: Principal, data: bytes) -> Profile:
        check_upload(data)  # before any lookup or decoding
        user = await live_user(self._users, principal)
        image = await self._images.normalise(data)
        previous = current_avatar(user.id, user.avatar_url)
        new = next_avatar(user.id, user.avatar_url, image.format)
        now = self._clock.now()
        metadata = {
            "user_id": str(user.id),
            "uploaded_at": now.isoformat(),
            "content_type": image.content_type,
            "size_bytes": str(len(image.data)),
        }
        await self._storage.put(
            new.key, image.data, content_type=image.content_type, metadata=metadata
        )
        user.update_profile(
            full_name=None,
            avatar_url=new.url(self._config.public_base_url),
            clear_avatar=False,
            now=now,
        )
        try:
            profile = await _commit_change(self._users, self._outbox, self._uow, user)
        except Exception:
            await _delete_quietly(self._storage, new.key)
            raise
        if previous is not None and previous.key != new.key:
            await _delete_quietly(self._storage, previous.key)
        await self._cache.delete(profile_key(user.id))
        return profile


class RemoveAvatar:
    """Clear `avatar_url` (an uploaded avatar or an external URL), record `user.updated`,
    commit, then delete the uploaded object if there was one and drop the cached profile.
    Removing when there is no avatar succeeds and changes nothing."""

    def __init__(
        self,
        users: UserRepository,
        storage: FileStorage,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users, self._storage, self._cache = users, storage, cache
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, principal: Principal) -> Profile:
        user = await live_user(self._users, principal)
        if user.avatar_url is None:
            return Profile.of(user)
        previous = current_avatar(user.id, user.avatar_url)
        user.update_profile(
            full_name=None, avatar_url=None, clear_avatar=True, now=self._clock.now()
        )
        profile = await _commit_change(self._users, self._outbox, self._uow, user)
        if previous is not None:
            await _delete_quietly(self._storage, previous.key)
        await self._cache.delete(profile_key(user.id))
        return profile


class AvatarLink:
    """A short-lived download URL for the uploaded avatar of a live user of the caller's
    tenant; `AvatarNotFound` (404) for no uploaded avatar, an external `avatar_url`, an
    unknown or deleted user, or one of another tenant."""

    def __init__(self, users: UserRepository, storage: FileStorage) -> None:
        self._users, self._storage = users, storage

    async def execute(self, caller: Principal, user_id: uuid.UUID) -> str:
        user = await self._users.get(user_id)
        if user is None or user.tenant_id != caller.tenant_id:
            raise AvatarNotFound(field="user_id")
        avatar = current_avatar(user.id, user.avatar_url)
        if avatar is None:
            raise AvatarNotFound(field="user_id")
        return await self._storage.download_url(avatar.key, expires_in=AVATAR_LINK_TTL)


async def _commit_change(
    users: UserRepository, outbox: Outbox, uow: UnitOfWork, user: User
) -> Profile:
    await users.save(user)
    profile = Profile.of(user)
    outbox.record(Event("user.updated", msgspec.to_builtins(profile), tenant_id=user.tenant_id))
    await uow.commit()
    return profile


async def _delete_quietly(storage: FileStorage, key: str) -> None:
    """The row no longer points at `key`: a failure leaves an orphan object, logged."""
    try:
        await storage.delete(key)
    except Exception:
        logger.warning("avatar object not deleted", extra={"key": key}, exc_info=True)
