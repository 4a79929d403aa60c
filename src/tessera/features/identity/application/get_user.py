from __future__ import annotations

import uuid

from tessera.features.identity.application.accounts import Profile
from tessera.features.identity.application.ports import UserRepository
from tessera.features.identity.application.user_administration import reachable_user
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal


class GetUser:
    """One live user within the caller's reach (404 otherwise, 403 for a `user` caller)."""

    def __init__(self, users: UserRepository, scope: TenantScope) -> None:
        self._scope = scope
        self._users = users

    async def execute(self, caller: Principal, user_id: uuid.UUID) -> Profile:
        widen_for_admin(self._scope, caller)
        return Profile.of(await reachable_user(self._users, caller, user_id))
