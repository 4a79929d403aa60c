"""What every way of signing in shares once the user is proven (a password, a passkey):
the account's standing checked, the new-device alert, the audit row and the session with
its first token pair."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from enum import StrEnum

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import (
    NEW_SIGN_IN,
    IdentityConfig,
    hash_token,
    record_security_alert,
)
from tessera.features.identity.application.ports import SessionStore, TokenIssuer
from tessera.features.identity.application.token_pairs import (
    PairSpec,
    TokenPair,
    issue_pair,
    whole_seconds,
)
from tessera.features.identity.domain.errors import AccountInactive, EmailNotVerified
from tessera.features.identity.domain.sessions import SessionRecord
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork

logger = logging.getLogger("tessera.security")


class SignInMethod(StrEnum):
    """How a session's user proved who they are (the audit rows' `method`). A passkey
    (user-verifying) counts as multi-factor on its own."""

    PASSWORD = "password"
    PASSKEY = "passkey"
    TOTP = "totp"  # the password, then an authenticator app's code
    RECOVERY_CODE = "recovery_code"  # the password, then a recovery code

    @property
    def satisfies_mfa(self) -> bool:
        return self is not SignInMethod.PASSWORD


class SessionOpener:
    """Sign-in's common end, for the use cases that prove the user their own way (`LogIn`,
    `PasskeyLogIn`); built by them from their ports, in their unit of work.

    - `refuse_unless_allowed`: an inactive account, or an unverified one when verification
      is required, is refused (403) and the refusal audited (`user.login.failed`);
    - `failed`: a refused sign-in's audit row, committed in a short transaction of its own;
    - `open`: a device (address, user agent) not seen within `known_device_seconds` gets a
      `security_alert` email and a `user.security_alert` event; `user.login.succeeded` is
      recorded with the method, committed, then the session is created (at most
      `sessions_per_user_max` live: the oldest end) and its first token pair returned.
    """

    def __init__(
        self,
        sessions: SessionStore,
        tokens: TokenIssuer,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        audit: AuditTrail,
    ) -> None:
        self._sessions, self._tokens, self._outbox = sessions, tokens, outbox
        self._uow, self._clock, self._config, self._audit = unit_of_work, clock, config, audit

    async def refuse_unless_allowed(self, user: User, *, method: SignInMethod) -> None:
        try:
            user.ensure_can_sign_in(require_verified=self._config.require_verified_email)
        except (AccountInactive, EmailNotVerified) as refused:
            reason = "inactive" if isinstance(refused, AccountInactive) else "unverified"
            await self.failed(user, reason, method=method)
            raise

    async def failed(self, user: User, reason: str, *, method: SignInMethod) -> None:
        """A refused sign-in writes nothing else: its audit row gets a short transaction."""
        self._audit.record(
            AuditAction.LOGIN_FAILED,
            tenant_id=user.tenant_id,
            actor_id=None,
            target_type="user",
            target_id=user.id,
            details={"reason": reason, "method": method.value},
        )
        await self._uow.commit()

    async def open(
        self,
        user: User,
        *,
        method: SignInMethod,
        ip_address: str | None,
        user_agent: str | None,
        needs_mfa_enrolment: bool = False,
    ) -> TokenPair:
        """Commits the unit of work (with whatever the caller wrote in it) before the session
        is created. The session records whether `method` proved a second factor
        (`SignInMethod.satisfies_mfa`) and whether it must enrol in MFA before anything else
        answers it (`needs_mfa_enrolment`)."""
        agent = agent_text(user_agent)
        if await self._is_new_device(user, ip_address, agent):
            record_security_alert(
                self._outbox,
                user,
                NEW_SIGN_IN,
                self._clock.now(),
                ip_address=ip_address,
                user_agent=agent,
            )
        self._audit.record(
            AuditAction.LOGIN_SUCCEEDED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"method": method.value},
        )
        await self._uow.commit()
        session, pair = await self._create_session(
            user, ip_address, agent, mfa=method.satisfies_mfa, enrol=needs_mfa_enrolment
        )
        logger.info(
            "login",
            extra={
                "user_id": str(user.id),
                "session_id": str(session.session_id),
                "method": method.value,
            },
        )
        return pair

    async def _is_new_device(self, user: User, ip_address: str | None, agent: str | None) -> bool:
        since = self._clock.now() - timedelta(seconds=self._config.known_device_seconds)
        return not await self._sessions.knows_device(
            user.id, ip_address=ip_address, user_agent=agent, since=since
        )

    async def _create_session(
        self, user: User, ip_address: str | None, agent: str | None, *, mfa: bool, enrol: bool
    ) -> tuple[SessionRecord, TokenPair]:
        # Tokens carry whole seconds; the session's start keeps its milliseconds, so the
        # cap can tell which of two sessions opened in one second is the older.
        started = self._clock.now()
        now = whole_seconds(started)
        session = SessionRecord(
            session_id=uuid.uuid4(),
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=user.role,
            created_at=started,
            last_seen_at=started,
            expires_at=now + timedelta(seconds=self._config.refresh_ttl_seconds),
            ip_address=ip_address,
            user_agent=agent,
            generation=0,
            rotated_at=now,
            mfa=mfa,
            needs_mfa_enrolment=enrol,
        )
        pair = issue_pair(self._tokens, PairSpec.of(session), self._config)
        ended = await self._sessions.create(
            session,
            refresh_hash=hash_token(pair.refresh_token),
            idle_seconds=self._config.idle_ttl_seconds,
            max_sessions=self._config.sessions_per_user_max,
            devices=self._config.device_memory,
        )
        if ended:
            logger.info(
                "oldest sessions ended: too many live sessions",
                extra={"user_id": str(user.id), "ended": len(ended)},
            )
        return session, pair


def agent_text(user_agent: str | None) -> str | None:
    return (user_agent or "")[:512] or None
