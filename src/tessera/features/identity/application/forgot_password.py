from __future__ import annotations

from datetime import timedelta

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.common import (
    PASSWORD_RESET,
    IdentityConfig,
    hash_token,
    new_secret,
)
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain.user import normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork


class ForgotPassword:
    """Always answers the same, known email or not (no enumeration); only an existing,
    active account gets an email with a single-use link valid 30 minutes. The link's host
    is PUBLIC_BASE_URL, never the request's."""

    def __init__(
        self, users: UserRepository, tokens: OneTimeTokens, outbox: Outbox,
        unit_of_work: UnitOfWork, clock: Clock, config: IdentityConfig,
    ) -> None:  # fmt: skip
        self._users, self._tokens, self._outbox = users, tokens, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, email: str) -> None:
        user = await self._users.by_email(normalise_email(email))
        if user is None or not user.is_active:
            return
        secret, now = new_secret(), self._clock.now()
        ttl = self._config.password_reset_ttl_seconds
        await self._tokens.issue(
            user=user, purpose=PASSWORD_RESET, token_hash=hash_token(secret),
            expires_at=now + timedelta(seconds=ttl), now=now,
        )  # fmt: skip
        link = f"{self._config.public_base_url}/reset-password?token={secret}"
        context = {"full_name": user.full_name, "link": link, "expires_minutes": ttl // 60}
        self._outbox.record(
            email_requested(PASSWORD_RESET, user.email, context, tenant_id=user.tenant_id)
        )
        await self._uow.commit()
