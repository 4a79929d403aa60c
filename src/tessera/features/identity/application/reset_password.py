from __future__ import annotations

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import PASSWORD_RESET, hash_token
from tessera.features.identity.application.password_change import PasswordChange
from tessera.features.identity.application.ports import (
    OneTimeTokens,
    PasswordHasher,
    SessionStore,
    UserRepository,
)
from tessera.features.identity.domain.errors import InvalidLinkToken
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope


class ResetPassword(PasswordChange):
    """Spends a reset token and sets the password; every session ends and the user is not
    signed in (they log in with the new password). A weak password leaves the token unused."""

    def __init__(
        self,
        tokens: OneTimeTokens,
        users: UserRepository,
        hasher: PasswordHasher,
        sessions: SessionStore,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._scope = scope
        super().__init__(users, hasher, sessions, cache, outbox, unit_of_work, clock, audit)
        self._tokens = tokens

    async def execute(self, token: str, new_password: str) -> None:
        self._scope.across_tenants("password reset link")  # the token names the user
        user_id = await self._tokens.consume(
            purpose=PASSWORD_RESET, token_hash=hash_token(token), now=self._clock.now()
        )
        user = None if user_id is None else await self._users.get(user_id)
        if user is None:
            raise InvalidLinkToken(field="token")
        await self._apply(user, new_password, keep=None, action=AuditAction.PASSWORD_RESET)
