from __future__ import annotations

import msgspec

from tessera.features.identity.application.common import (
    IdentityConfig,
    Profile,
    live_user,
    profile_key,
)
from tessera.features.identity.application.ports import UserRepository
from tessera.features.identity.domain.sessions import Principal
from tessera.shared.application.ports import Cache


class GetProfile:
    """The caller's profile, from `cache:user:<id>` when fresh (5 min), else the database;
    every change to the account deletes the cached copy."""

    def __init__(self, users: UserRepository, cache: Cache, config: IdentityConfig) -> None:
        self._users, self._cache, self._config = users, cache, config

    async def execute(self, principal: Principal) -> Profile:
        cached = await self._cache.get(profile_key(principal.user_id))
        if cached is not None:
            return msgspec.json.decode(cached, type=Profile)
        user = await live_user(self._users, principal)
        profile = Profile.of(user)
        await self._cache.set(
            profile_key(user.id), msgspec.json.encode(profile),
            ttl_seconds=self._config.profile_cache_seconds,
        )  # fmt: skip
        return profile
