from __future__ import annotations

from tessera.features.identity.application.accounts import (
    VERIFY_EMAIL,
    IdentityConfig,
    send_link,
)
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain.errors import InvalidToken
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.domain.caller import Principal


class RequestEmailVerification:
    """Queues an email with a single-use link valid 24 h; earlier links stop working.
    Already verified: nothing is sent. Past the per-account ceiling (`EmailCeiling`) the
    answer is the same and nothing happens: no email, no new link."""

    def __init__(
        self,
        users: UserRepository,
        tokens: OneTimeTokens,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        ceiling: EmailCeiling,
    ) -> None:
        self._ceiling = ceiling
        self._users, self._tokens, self._outbox = users, tokens, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, principal: Principal) -> None:
        user = await self._users.get(principal.user_id)
        if user is None:
            raise InvalidToken()
        if user.is_verified or not await self._ceiling.allows(MailKind.VERIFY_EMAIL, user.email):
            return
        ttl = self._config.verify_email_ttl_seconds
        await send_link(
            self._tokens,
            self._outbox,
            user,
            purpose=VERIFY_EMAIL,
            page="verify-email",
            ttl_seconds=ttl,
            now=self._clock.now(),
            config=self._config,
            context={"expires_hours": ttl // 3600},
        )
        await self._uow.commit()
