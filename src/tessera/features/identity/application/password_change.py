"""Not a use case: the rule a reset and a change share."""

from __future__ import annotations

import logging

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.accounts import profile_key, security_alert
from tessera.features.identity.application.ports import PasswordHasher, SessionStore, UserRepository
from tessera.features.identity.domain.password_policy import check_password
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.security")


class PasswordChange:
    """New password: policy checked, new hash committed with a `security_alert` email and a
    `user.security_alert` event, then every session ends (but `keep`) and the cached profile
    is dropped."""

    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        sessions: SessionStore,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._users, self._hasher, self._sessions = users, hasher, sessions
        self._cache, self._outbox, self._uow, self._clock = cache, outbox, unit_of_work, clock

    async def _apply(
        self, user: User, new_password: str, *, keep: Principal | None, action: AuditAction
    ) -> None:
        """`keep` is the caller's session for a change (its actor), None for a reset by
        link (no actor)."""
        check_password(new_password, email=user.email)
        now = self._clock.now()
        user.set_password_hash(await self._hasher.hash(new_password), now)
        await self._users.save(user)
        context = {
            "full_name": user.full_name,
            "event": "password changed",
            "ip_address": "",
            "user_agent": "",
            "occurred_at": now.isoformat(timespec="seconds"),
        }
        self._outbox.record(
            email_requested("security_alert", user.email, context, tenant_id=user.tenant_id)
        )
        self._outbox.record(security_alert(user, "password changed", now))
        self._audit.record(
            action,
            tenant_id=user.tenant_id,
            actor_id=keep.user_id if keep else None,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
        await self._sessions.revoke_all(user.id, keep=keep.session_id if keep else None)
        await self._cache.delete(profile_key(user.id))
        logger.info("password changed", extra={"user_id": str(user.id)})
