"""The current user's own account: read, update, delete."""

from __future__ import annotations

import logging

import msgspec

from tessera.features.identity.application.common import IdentityConfig, Profile, profile_key
from tessera.features.identity.application.ports import SessionStore, UserRepository
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import Principal
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")
MAX_URL_LENGTH = 512


class ProfileChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only these fields can be changed here; role, email or tenant are refused (400)."""

    full_name: str | None = None
    avatar_url: str | msgspec.UnsetType | None = msgspec.UNSET


class GetProfile:
    """The caller's profile, from `cache:user:<id>` when fresh (5 min), else the database."""

    def __init__(self, users: UserRepository, cache: Cache, config: IdentityConfig) -> None:
        self._users, self._cache, self._config = users, cache, config

    async def execute(self, principal: Principal) -> Profile:
        cached = await self._cache.get(profile_key(principal.user_id))
        if cached is not None:
            return msgspec.json.decode(cached, type=Profile)
        user = await _live_user(self._users, principal)
        profile = Profile.of(user)
        await self._cache.set(
            profile_key(user.id), msgspec.json.encode(profile),
            ttl_seconds=self._config.profile_cache_seconds,
        )  # fmt: skip
        return profile


class UpdateProfile:
    def __init__(
        self, users: UserRepository, cache: Cache, outbox: Outbox, unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:  # fmt: skip
        self._users, self._cache, self._outbox = users, cache, outbox
        self._uow, self._clock = unit_of_work, clock

    async def execute(self, principal: Principal, changes: ProfileChanges) -> Profile:
        user = await _live_user(self._users, principal)
        avatar = None if changes.avatar_url is msgspec.UNSET else changes.avatar_url
        if avatar is not None and (len(avatar) > MAX_URL_LENGTH or not avatar.startswith(
                ("https://", "http://"))):  # fmt: skip
            raise InvalidInput("avatar_url must be an http(s) URL.", field="avatar_url")
        user.update_profile(
            full_name=changes.full_name, avatar_url=avatar,
            clear_avatar=changes.avatar_url is None, now=self._clock.now(),
        )  # fmt: skip
        await self._users.save(user)
        profile = Profile.of(user)
        self._outbox.record(Event("user.updated", msgspec.to_builtins(profile),
                                  tenant_id=user.tenant_id))  # fmt: skip
        await self._uow.commit()
        await self._cache.delete(profile_key(user.id))
        return profile


class DeleteAccount:
    """Soft delete: the row keeps `deleted_at` (purged after the retention period), every
    session ends at once, the email can register again, and `user.deleted` is recorded."""

    def __init__(
        self, users: UserRepository, sessions: SessionStore, cache: Cache, outbox: Outbox,
        unit_of_work: UnitOfWork, clock: Clock,
    ) -> None:  # fmt: skip
        self._users, self._sessions, self._cache = users, sessions, cache
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, principal: Principal) -> None:
        user = await _live_user(self._users, principal)
        user.soft_delete(self._clock.now())
        await self._users.save(user)
        payload = {"user_id": str(user.id), "tenant_id": str(user.tenant_id)}
        self._outbox.record(Event("user.deleted", payload, tenant_id=user.tenant_id))
        await self._uow.commit()
        await self._sessions.revoke_all(user.id)
        await self._cache.delete(profile_key(user.id))
        logger.info("account deleted", extra={"user_id": str(user.id)})


async def _live_user(users: UserRepository, principal: Principal) -> User:
    user = await users.get(principal.user_id)
    if user is None:
        raise InvalidToken()
    return user
