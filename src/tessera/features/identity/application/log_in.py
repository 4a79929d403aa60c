from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.accounts import (
    IdentityConfig,
    hash_token,
    security_alert,
)
from tessera.features.identity.application.login_throttle import LoginThrottle
from tessera.features.identity.application.ports import (
    PasswordHasher,
    SessionStore,
    TokenIssuer,
    UserRepository,
)
from tessera.features.identity.application.token_pairs import (
    PairSpec,
    TokenPair,
    issue_pair,
    whole_seconds,
)
from tessera.features.identity.domain.errors import (
    AccountInactive,
    EmailNotVerified,
    InvalidCredentials,
)
from tessera.features.identity.domain.sessions import SessionRecord
from tessera.features.identity.domain.user import User, normalise_email
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.security")


class Credentials(msgspec.Struct, frozen=True):
    email: str
    password: str
    ip_address: str | None = None
    user_agent: str | None = None


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
      refused account; a failure for an email with no account has no tenant to log to.
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
    ) -> None:
        self._scope, self._audit = scope, audit
        self._users = users
        self._hasher = hasher
        self._sessions = sessions
        self._tokens = tokens
        self._throttle = LoginThrottle(cache)
        self._outbox = outbox
        self._uow = unit_of_work
        self._clock = clock
        self._config = config

    async def execute(self, credentials: Credentials) -> TokenPair:
        self._scope.across_tenants("sign-in")  # the email is looked up in every tenant
        try:
            email = normalise_email(credentials.email)
        except InvalidInput:
            await self._hasher.verify_dummy(credentials.password)
            raise InvalidCredentials() from None
        await self._throttle.check(email)
        user = await self._verified_user(email, credentials.password)
        try:
            user.ensure_can_sign_in(require_verified=self._config.require_verified_email)
        except (AccountInactive, EmailNotVerified) as refused:
            await self._failed(
                user, "inactive" if isinstance(refused, AccountInactive) else "unverified"
            )
            raise
        await self._throttle.forget(email)
        if self._hasher.needs_rehash(user.password_hash):
            user.set_password_hash(await self._hasher.hash(credentials.password), self._clock.now())
            await self._users.save(user)
        if await self._is_new_device(user, credentials):
            self._outbox.record(self._new_sign_in_alert(user, credentials))
            self._outbox.record(
                security_alert(
                    user,
                    "new sign-in",
                    self._clock.now(),
                    ip_address=credentials.ip_address,
                    user_agent=_agent(credentials.user_agent),
                )
            )
        self._audit.record(
            AuditAction.LOGIN_SUCCEEDED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
        session, pair = await self._open_session(user, credentials)
        logger.info("login", extra={"user_id": str(user.id), "session_id": str(session.session_id)})
        return pair

    async def _is_new_device(self, user: User, credentials: Credentials) -> bool:
        since = self._clock.now() - timedelta(seconds=self._config.known_device_seconds)
        return not await self._sessions.knows_device(
            user.id,
            ip_address=credentials.ip_address,
            user_agent=_agent(credentials.user_agent),
            since=since,
        )

    def _new_sign_in_alert(self, user: User, credentials: Credentials) -> Event:
        context = {
            "full_name": user.full_name,
            "event": "new sign-in",
            "ip_address": credentials.ip_address or "unknown",
            "user_agent": _agent(credentials.user_agent) or "unknown",
            "occurred_at": self._clock.now().isoformat(timespec="seconds"),
        }
        return email_requested("security_alert", user.email, context, tenant_id=user.tenant_id)

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
            await self._failed(user, "wrong_password")
        raise InvalidCredentials()

    async def _failed(self, user: User, reason: str) -> None:
        """A refused sign-in writes nothing else: its audit row gets a short transaction."""
        self._audit.record(
            AuditAction.LOGIN_FAILED,
            tenant_id=user.tenant_id,
            actor_id=None,
            target_type="user",
            target_id=user.id,
            details={"reason": reason},
        )
        await self._uow.commit()

    async def _open_session(
        self, user: User, credentials: Credentials
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
            ip_address=credentials.ip_address,
            user_agent=_agent(credentials.user_agent),
            generation=0,
            rotated_at=now,
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


def _agent(user_agent: str | None) -> str | None:
    return (user_agent or "")[:512] or None
