from __future__ import annotations

from tessera.features.identity.application.accounts import (
    VERIFY_EMAIL,
    hash_token,
    profile_key,
)
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain.errors import InvalidLinkToken
from tessera.shared.application.ports import Cache, Clock, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope


class VerifyEmail:
    """Spends a verification token: the account becomes verified. Used, expired or unknown
    tokens are a validation error (400)."""

    def __init__(
        self,
        users: UserRepository,
        tokens: OneTimeTokens,
        cache: Cache,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
    ) -> None:
        self._scope = scope
        self._users, self._tokens, self._cache = users, tokens, cache
        self._uow, self._clock = unit_of_work, clock

    async def execute(self, token: str) -> None:
        self._scope.across_tenants("email verification link")  # the token names the user
        now = self._clock.now()
        user_id = await self._tokens.consume(
            purpose=VERIFY_EMAIL, token_hash=hash_token(token), now=now
        )
        user = None if user_id is None else await self._users.get(user_id)
        if user is None:
            raise InvalidLinkToken(field="token")
        user.mark_verified(now)
        await self._users.save(user)
        await self._uow.commit()
        await self._cache.delete(profile_key(user.id))
