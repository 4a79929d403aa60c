from __future__ import annotations

import msgspec

from tessera.features.identity.application.accounts import (
    IdentityConfig,
    Profile,
    live,
    profile_key,
)
from tessera.features.identity.application.ports import UserLookup
from tessera.shared.application.ports import Cache
from tessera.shared.domain.caller import Principal


class GetProfile:
    """The caller's profile: the copy cached under `profile_key` (5 min; every change to the
    account deletes it), which the session check reads with the session (`LiveSessions.touch`)
    and hands over as `cached`; else the database, whose answer is cached for the next
    request. Application-scoped: a cache hit builds no request-scoped object and takes no
    database session (`UserLookup` takes one only on a miss).

    A hit comes back as the cached JSON itself (`msgspec.Raw`), which the response encoder
    splices in as it is: it was encoded from a `Profile` here, and decoding it only to encode
    it again costs about 1 µs a request."""

    def __init__(self, users: UserLookup, cache: Cache, config: IdentityConfig) -> None:
        self._users, self._cache, self._config = users, cache, config

    async def execute(self, principal: Principal, cached: bytes | None) -> Profile | msgspec.Raw:
        if cached is not None:
            return msgspec.Raw(cached)
        user = live(await self._users.get(principal.user_id, tenant_id=principal.tenant_id))
        profile = Profile.of(user)
        await self._cache.set(
            profile_key(user.id),
            msgspec.json.encode(profile),
            ttl_seconds=self._config.profile_cache_seconds,
        )
        return profile
