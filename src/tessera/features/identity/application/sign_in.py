"""Not a use case: the end every sign-in shares (a password alone, a password and a second
factor, a passkey) once the user is proven: the new-device alert, the audit row, then the
session and its first token pair."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.accounts import (
    NEW_SIGN_IN,
    IdentityConfig,
    hash_token,
    security_alert,
)
from tessera.features.identity.application.ports import SessionStore, TokenIssuer
from tessera.features.identity.application.token_pairs import (
    PairSpec,
    TokenPair,
    issue_pair,
    whole_seconds,
)
from tessera.features.identity.domain.sessions import SessionRecord
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork

logger = logging.getLogger("tessera.security")


@dataclass(frozen=True, slots=True)
class Device:
    """Where a sign-in comes from; the user agent is cut to 512 characters."""

    ip_address: str | None
    user_agent: str | None

    @classmethod
    def of(cls, ip_address: str | None, user_agent: str | None) -> Device:
        return cls(ip_address, (user_agent or "")[:512] or None)


def record_security_alert(
    outbox: Outbox,
    user: User,
    event: str,
    now: datetime,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """The `security_alert` email to the user and the `user.security_alert` event (which
    other features turn into notifications), recorded in the caller's transaction."""
    context = {
        "full_name": user.full_name,
        "event": event,
        "ip_address": ip_address or "unknown",
        "user_agent": user_agent or "unknown",
        "occurred_at": now.isoformat(timespec="seconds"),
    }
    outbox.record(email_requested("security_alert", user.email, context, tenant_id=user.tenant_id))
    outbox.record(security_alert(user, event, now, ip_address=ip_address, user_agent=user_agent))


class SignIn:
    """Opens a session for a user whose sign-in is proven.

    - a device (address and user agent) the user has not signed in from within
      `known_device_seconds` is a "new sign-in": a `security_alert` email and event;
    - `user.login.succeeded` goes to the audit log, committed with the above (and anything
      the caller left in the transaction) before the session opens;
    - the session records whether a second factor was proven (`mfa`) and whether it must
      enrol in MFA before anything else (`needs_mfa_enrolment`);
    - a user has at most `sessions_per_user_max` live sessions: past it the oldest end.
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

    async def complete(
        self, user: User, device: Device, *, mfa: bool, needs_mfa_enrolment: bool = False
    ) -> TokenPair:
        if await self._is_new_device(user, device):
            record_security_alert(
                self._outbox,
                user,
                NEW_SIGN_IN,
                self._clock.now(),
                ip_address=device.ip_address,
                user_agent=device.user_agent,
            )
        self._audit.record(
            AuditAction.LOGIN_SUCCEEDED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
        session, pair = await self._open_session(user, device, mfa, needs_mfa_enrolment)
        logger.info("login", extra={"user_id": str(user.id), "session_id": str(session.session_id)})
        return pair

    async def _is_new_device(self, user: User, device: Device) -> bool:
        since = self._clock.now() - timedelta(seconds=self._config.known_device_seconds)
        return not await self._sessions.knows_device(
            user.id, ip_address=device.ip_address, user_agent=device.user_agent, since=since
        )

    async def _open_session(
        self, user: User, device: Device, mfa: bool, needs_mfa_enrolment: bool
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
            ip_address=device.ip_address,
            user_agent=device.user_agent,
            generation=0,
            rotated_at=now,
            mfa=mfa,
            needs_mfa_enrolment=needs_mfa_enrolment,
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
