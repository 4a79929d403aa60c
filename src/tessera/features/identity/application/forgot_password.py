from __future__ import annotations

from tessera.features.identity.application.accounts import (
    PASSWORD_RESET,
    IdentityConfig,
    send_link,
)
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain.user import normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope


class ForgotPassword:
    """Always answers the same, known email or not (no enumeration); only an existing,
    active account gets an email with a single-use link valid 30 minutes. The link's host
    is PUBLIC_BASE_URL, never the request's.

    Past the per-account ceiling (`EmailCeiling`, counted for every address asked about,
    before the lookup) nothing happens at all: no email, and no new link, so the links
    already sent keep working."""

    def __init__(
        self,
        users: UserRepository,
        tokens: OneTimeTokens,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
        ceiling: EmailCeiling,
    ) -> None:
        self._scope, self._ceiling = scope, ceiling
        self._users, self._tokens, self._outbox = users, tokens, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, email: str) -> None:
        self._scope.across_tenants("password reset request")  # by email, in every tenant
        address = normalise_email(email)
        if not await self._ceiling.allows(MailKind.PASSWORD_RESET, address):
            return
        user = await self._users.by_email(address)
        if user is None or not user.is_active:
            return
        ttl = self._config.password_reset_ttl_seconds
        await send_link(
            self._tokens,
            self._outbox,
            user,
            purpose=PASSWORD_RESET,
            page="reset-password",
            ttl_seconds=ttl,
            now=self._clock.now(),
            config=self._config,
            context={"expires_minutes": ttl // 60},
        )
        await self._uow.commit()
