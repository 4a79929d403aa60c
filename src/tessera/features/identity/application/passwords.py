"""Forgotten, reset and changed passwords."""

from __future__ import annotations

import logging
from datetime import timedelta

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.common import (
    IdentityConfig,
    hash_token,
    new_secret,
    profile_key,
)
from tessera.features.identity.application.email_verification import InvalidLinkToken
from tessera.features.identity.application.ports import (
    OneTimeTokens,
    PasswordHasher,
    SessionStore,
    UserRepository,
)
from tessera.features.identity.domain.errors import InvalidCredentials, InvalidToken
from tessera.features.identity.domain.password_policy import check_password
from tessera.features.identity.domain.sessions import Principal
from tessera.features.identity.domain.user import User, normalise_email
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.domain.errors import InvalidInput

PASSWORD_RESET = "password_reset"
logger = logging.getLogger("tessera.security")


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


class _PasswordChange:
    """Shared by reset and change: new hash, sessions ended, cache dropped, user told."""

    def __init__(
        self, users: UserRepository, hasher: PasswordHasher, sessions: SessionStore,
        cache: Cache, outbox: Outbox, unit_of_work: UnitOfWork, clock: Clock,
    ) -> None:  # fmt: skip
        self._users, self._hasher, self._sessions = users, hasher, sessions
        self._cache, self._outbox, self._uow, self._clock = cache, outbox, unit_of_work, clock

    async def _apply(self, user: User, new_password: str, *, keep: Principal | None) -> None:
        check_password(new_password, email=user.email)
        now = self._clock.now()
        user.set_password_hash(await self._hasher.hash(new_password), now)
        await self._users.save(user)
        context = {
            "full_name": user.full_name, "event": "password changed", "ip_address": "",
            "user_agent": "", "occurred_at": now.isoformat(timespec="seconds"),
        }  # fmt: skip
        self._outbox.record(
            email_requested("security_alert", user.email, context, tenant_id=user.tenant_id)
        )
        await self._uow.commit()
        await self._sessions.revoke_all(user.id, keep=keep.session_id if keep else None)
        await self._cache.delete(profile_key(user.id))
        logger.info("password changed", extra={"user_id": str(user.id)})


class ResetPassword(_PasswordChange):
    """Spends a reset token and sets the password; every session ends and the user is not
    signed in (they log in with the new password)."""

    def __init__(
        self, tokens: OneTimeTokens, users: UserRepository, hasher: PasswordHasher,
        sessions: SessionStore, cache: Cache, outbox: Outbox, unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:  # fmt: skip
        super().__init__(users, hasher, sessions, cache, outbox, unit_of_work, clock)
        self._tokens = tokens

    async def execute(self, token: str, new_password: str) -> None:
        user_id = await self._tokens.consume(
            purpose=PASSWORD_RESET, token_hash=hash_token(token), now=self._clock.now()
        )
        user = None if user_id is None else await self._users.get(user_id)
        if user is None:
            raise InvalidLinkToken(field="token")
        await self._apply(user, new_password, keep=None)


class ChangePassword(_PasswordChange):
    """Needs the current password (401 otherwise); other sessions end, this one stays."""

    async def execute(self, principal: Principal, current: str, new_password: str) -> None:
        user = await self._users.get(principal.user_id)
        if user is None:
            raise InvalidToken()
        if not await self._hasher.verify(user.password_hash, current):
            raise InvalidCredentials("The current password is wrong.")
        if current == new_password:
            raise InvalidInput("The new password must differ.", field="new_password")
        await self._apply(user, new_password, keep=principal)
