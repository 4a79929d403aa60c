from __future__ import annotations

import logging
from typing import Literal

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.identity.application.accounts import IdentityConfig, hash_token, new_secret
from tessera.features.identity.application.login_throttle import LoginThrottle
from tessera.features.identity.application.ports import (
    MfaCredentials,
    MfaTicket,
    MfaTickets,
    PasswordHasher,
    SessionStore,
    TenantDirectory,
    TokenIssuer,
    UserRepository,
)
from tessera.features.identity.application.session_opening import SessionOpener, SignInMethod
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.errors import InvalidCredentials
from tessera.features.identity.domain.user import User, normalise_email
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.errors import InvalidInput

logger = logging.getLogger("tessera.security")


class Credentials(msgspec.Struct, frozen=True):
    email: str
    password: str
    ip_address: str | None = None
    user_agent: str | None = None


class MfaChallenge(msgspec.Struct, frozen=True):
    """The password was right; the account has two-factor sign-in, so the sign-in ends with
    `POST /auth/mfa/verify` and this ticket (single use, `expires_in` seconds). Always
    `mfa_required: true`, which a token pair never has: what tells the two answers apart."""

    mfa_required: Literal[True]
    ticket: str
    expires_in: int


class LogIn:
    """Opens a session and returns its first token pair.

    Rules:
    - unknown email, wrong password and deleted account all answer `InvalidCredentials`,
      and an unknown email still pays for one password verification (no timing oracle);
    - failures are counted per email, whether or not the account exists; past a few, the
      next attempt must wait a growing delay (429), but nothing is ever locked for good;
    - an inactive account, or an unverified one when verification is required, is refused
      (403) only after the password was proven;
    - a hash made with old parameters is upgraded on success;
    - a sign-in from a device (address and user agent) the user has not signed in from
      within `known_device_seconds` is a "new sign-in": the user gets a `security_alert`
      email, and `user.security_alert` is recorded for whoever else tells the user
      (notifications). Every sign-in remembers its device (at most `known_devices_max` per
      user); a logout does not forget it, a password reset, "log out everywhere" or a
      refresh-token reuse do (see `SessionStore`). The check is one look-up;
    - a user has at most `sessions_per_user_max` live sessions: a login past it ends the
      oldest ones;
    - the audit log gets `user.login.succeeded` with the session's opening, and
      `user.login.failed` (in a short transaction of its own) for a wrong password or a
      refused account, both with `method` "password"; a failure for an email with no
      account has no tenant to log to.

    - with TOTP on, the right password opens no session and writes no success to the audit
      log: it gets an `MfaChallenge` (finished by `VerifyMfa`), and the failure count is
      kept (the second factor clears it), so signing in again does not reset the throttle
      on codes;
    - when the user's tenant requires MFA and the user has none, the session is marked as
      needing enrolment.

    What happens once the password is proven is `SessionOpener`'s, shared with passkeys.
    """

    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        sessions: SessionStore,
        tokens: TokenIssuer,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
        audit: AuditTrail,
        mfa: MfaCredentials,
        tickets: MfaTickets,
        tenants: TenantDirectory,
    ) -> None:
        self._scope = scope
        self._config = config
        self._mfa, self._tickets, self._tenants = mfa, tickets, tenants
        self._users = users
        self._hasher = hasher
        self._throttle = LoginThrottle(cache)
        self._uow = unit_of_work
        self._clock = clock
        self._opener = SessionOpener(sessions, tokens, outbox, unit_of_work, clock, config, audit)

    async def execute(self, credentials: Credentials) -> TokenPair | MfaChallenge:
        self._scope.across_tenants("sign-in")  # the email is looked up in every tenant
        try:
            email = normalise_email(credentials.email)
        except InvalidInput:
            await self._hasher.verify_dummy(credentials.password)
            raise InvalidCredentials() from None
        await self._throttle.check(email)
        user = await self._verified_user(email, credentials.password)
        await self._opener.refuse_unless_allowed(user, method=SignInMethod.PASSWORD)
        if self._hasher.needs_rehash(user.password_hash):
            user.set_password_hash(await self._hasher.hash(credentials.password), self._clock.now())
            await self._users.save(user)
        totp = await self._mfa.get(user.id)
        if totp is not None and totp.enabled:
            await self._uow.commit()  # the upgraded hash, if any
            return await self._challenge(user, email)
        await self._throttle.forget(email)
        enrol = await self._tenants.requires_mfa(user.tenant_id)
        return await self._opener.open(
            user,
            method=SignInMethod.PASSWORD,
            ip_address=credentials.ip_address,
            user_agent=credentials.user_agent,
            needs_mfa_enrolment=enrol,
        )

    async def _challenge(self, user: User, email: str) -> MfaChallenge:
        ticket, ttl = new_secret(), self._config.mfa_ticket_seconds
        await self._tickets.put(
            hash_token(ticket), MfaTicket(user.id, user.tenant_id, email), ttl_seconds=ttl
        )
        logger.info("password accepted, second factor due", extra={"user_id": str(user.id)})
        return MfaChallenge(mfa_required=True, ticket=ticket, expires_in=ttl)

    async def _verified_user(self, email: str, password: str) -> User:
        user = await self._users.by_email(email)
        # The hash check is tens of milliseconds of CPU: the read-only transaction ends
        # first, so a login storm does not hold a pooled connection per password checked.
        await self._uow.rollback()
        if user is None:
            await self._hasher.verify_dummy(password)
        elif await self._hasher.verify(user.password_hash, password):
            return user
        await self._throttle.failed(email)
        logger.warning("failed login", extra={"email": email})
        if user is not None:
            await self._opener.failed(user, "wrong_password", method=SignInMethod.PASSWORD)
        raise InvalidCredentials()
