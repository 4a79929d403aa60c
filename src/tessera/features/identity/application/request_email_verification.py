from __future__ import annotations

from datetime import timedelta

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.common import (
    VERIFY_EMAIL,
    IdentityConfig,
    hash_token,
    new_secret,
)
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import Principal
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork


class RequestEmailVerification:
    """Queues an email with a single-use link valid 24 h; earlier links stop working.
    Already verified: nothing is sent."""

    def __init__(
        self, users: UserRepository, tokens: OneTimeTokens, outbox: Outbox,
        unit_of_work: UnitOfWork, clock: Clock, config: IdentityConfig,
    ) -> None:  # fmt: skip
        self._users, self._tokens, self._outbox = users, tokens, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, principal: Principal) -> None:
        user = await self._users.get(principal.user_id)
        if user is None:
            raise InvalidToken()
        if user.is_verified:
            return
        secret, now = new_secret(), self._clock.now()
        ttl = self._config.verify_email_ttl_seconds
        await self._tokens.issue(
            user=user, purpose=VERIFY_EMAIL, token_hash=hash_token(secret),
            expires_at=now + timedelta(seconds=ttl), now=now,
        )  # fmt: skip
        link = f"{self._config.public_base_url}/verify-email?token={secret}"
        context = {"full_name": user.full_name, "link": link, "expires_hours": ttl // 3600}
        self._outbox.record(
            email_requested(VERIFY_EMAIL, user.email, context, tenant_id=user.tenant_id)
        )
        await self._uow.commit()
