from __future__ import annotations

from typing import Annotated

import msgspec

from tessera.features.identity.application.accounts import (
    FullName,
    Profile,
    live_user,
    profile_key,
)
from tessera.features.identity.application.ports import UserRepository
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event
from tessera.shared.domain.patterns import HTTP_URL

MAX_URL_LENGTH = 512
AvatarUrl = Annotated[str, msgspec.Meta(pattern=HTTP_URL, max_length=MAX_URL_LENGTH)]


class ProfileChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only these fields can be changed here; role, email or tenant are refused (400)."""

    full_name: FullName | None = None
    avatar_url: AvatarUrl | msgspec.UnsetType | None = msgspec.UNSET


class UpdateProfile:
    """Changes the name and the avatar URL (http(s), or null to clear it); records
    `user.updated` and drops the cached profile. A request that changes nothing (an empty
    body, or the values the profile has) writes nothing and records nothing: `updated_at`
    stays, and no event or webhook follows."""

    def __init__(
        self,
        users: UserRepository,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users, self._cache, self._outbox = users, cache, outbox
        self._uow, self._clock = unit_of_work, clock

    async def execute(self, principal: Principal, changes: ProfileChanges) -> Profile:
        user = await live_user(self._users, principal)
        avatar = None if changes.avatar_url is msgspec.UNSET else changes.avatar_url
        user.update_profile(
            full_name=changes.full_name,
            avatar_url=avatar,
            clear_avatar=changes.avatar_url is None,
            now=self._clock.now(),
        )
        profile = Profile.of(user)
        if not user.changed:
            return profile
        await self._users.save(user)
        payload = msgspec.to_builtins(profile)
        self._outbox.record(Event("user.updated", payload, tenant_id=user.tenant_id))
        await self._uow.commit()
        await self._cache.delete(profile_key(user.id))
        return profile
