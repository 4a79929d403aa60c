from __future__ import annotations

import logging
from typing import NoReturn

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import (
    RECOVERY_CODE_USED,
    IdentityConfig,
    hash_token,
    record_security_alert,
)
from tessera.features.identity.application.login_throttle import LoginThrottle
from tessera.features.identity.application.ports import (
    MfaCredentials,
    MfaSecretBox,
    MfaTickets,
    SessionStore,
    TokenIssuer,
    UserRepository,
)
from tessera.features.identity.application.second_factor import Factor, SecondFactor
from tessera.features.identity.application.session_opening import (
    SessionOpener,
    SignInMethod,
    agent_text,
)
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.errors import AccountInactive, EmailNotVerified
from tessera.features.identity.domain.mfa import InvalidMfaCode, InvalidMfaTicket
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope

logger = logging.getLogger("tessera.security")


class MfaAttempt(msgspec.Struct, frozen=True):
    ticket: str
    code: str
    ip_address: str | None = None
    user_agent: str | None = None


class VerifyMfa:
    """Finishes a sign-in that `LogIn` answered with an `MfaChallenge`.

    Rules:
    - the ticket must be live (5 minutes, bound to its user); a wrong code leaves it live,
      a right one takes it, atomically: a ticket signs in once (401 after);
    - the code is a TOTP code (±1 step of drift; each step accepted once per user, so a
      replay within the window is refused) or an unused recovery code, spent by its use;
    - a wrong code counts toward the account's login throttle (the same 429 as for
      passwords once past a few), and goes to the audit log as `user.login.failed` with
      reason `wrong_code`; a right one clears the throttle;
    - a recovery code used is audited (`user.mfa.recovery_code_used`) and sends the user
      a `security_alert`;
    - then the sign-in ends as any other (`SessionOpener`), in a session that counts as
      MFA (method `totp` or `recovery_code`).
    """

    def __init__(
        self,
        tickets: MfaTickets,
        users: UserRepository,
        credentials: MfaCredentials,
        box: MfaSecretBox,
        sessions: SessionStore,
        tokens: TokenIssuer,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._tickets, self._users = tickets, users
        self._factor = SecondFactor(credentials, box, clock)
        self._throttle = LoginThrottle(cache)
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock
        self._config, self._scope, self._audit = config, scope, audit
        self._opener = SessionOpener(sessions, tokens, outbox, unit_of_work, clock, config, audit)

    async def execute(self, attempt: MfaAttempt) -> TokenPair:
        ticket_hash = hash_token(attempt.ticket)
        ticket = await self._tickets.peek(ticket_hash)
        if ticket is None:
            raise InvalidMfaTicket()
        await self._throttle.check(ticket.email)
        self._scope.enter(ticket.tenant_id)
        user = await self._users.get(ticket.user_id)
        if user is None or not self._may_sign_in(user):
            await self._tickets.take(ticket_hash)
            raise InvalidMfaTicket()
        factor = await self._factor.spend(user.id, attempt.code)
        if factor is None:
            await self._wrong_code(user, ticket.email)
        if await self._tickets.take(ticket_hash) is None:  # a concurrent attempt took it
            await self._uow.rollback()  # the code stays unspent
            raise InvalidMfaTicket()
        await self._throttle.forget(ticket.email)
        agent = agent_text(attempt.user_agent)
        method = SignInMethod.TOTP
        if factor is Factor.RECOVERY_CODE:
            method = SignInMethod.RECOVERY_CODE
            self._recovery_code_used(user, attempt.ip_address, agent)
        return await self._opener.open(
            user, method=method, ip_address=attempt.ip_address, user_agent=agent
        )

    def _may_sign_in(self, user: User) -> bool:
        """Deactivated (or unverified) since the password was checked: the ticket is void."""
        try:
            user.ensure_can_sign_in(require_verified=self._config.require_verified_email)
        except (AccountInactive, EmailNotVerified):
            return False
        return True

    async def _wrong_code(self, user: User, email: str) -> NoReturn:
        await self._uow.rollback()
        await self._throttle.failed(email)
        logger.warning("wrong second factor", extra={"user_id": str(user.id)})
        await self._opener.failed(user, "wrong_code", method=SignInMethod.TOTP)
        raise InvalidMfaCode()

    def _recovery_code_used(self, user: User, ip_address: str | None, agent: str | None) -> None:
        record_security_alert(
            self._outbox,
            user,
            RECOVERY_CODE_USED,
            self._clock.now(),
            ip_address=ip_address,
            user_agent=agent,
        )
        self._audit.record(
            AuditAction.MFA_RECOVERY_CODE_USED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
