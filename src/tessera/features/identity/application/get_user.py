from __future__ import annotations

import uuid

from tessera.features.identity.application.common import Profile
from tessera.features.identity.application.ports import UserRepository
from tessera.features.identity.application.user_administration import reachable_user
from tessera.features.identity.domain.sessions import Principal


class GetUser:
    """One live user within the caller's reach (404 otherwise, 403 for a `user` caller)."""

    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def execute(self, caller: Principal, user_id: uuid.UUID) -> Profile:
        return Profile.of(await reachable_user(self._users, caller, user_id))
