from __future__ import annotations

import logging
import uuid

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import FullName, Profile, profile_key
from tessera.features.identity.application.ports import SessionStore, UserRepository
from tessera.features.identity.application.user_administration import (
    AdminOnly,
    SelfLockout,
    reachable_user,
    require_may_manage,
)
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class UserChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an administrator may change; any other field (email, tenant_id, ...) is a 400."""

    role: Role | None = None
    is_active: bool | None = None
    full_name: FullName | None = None


class UpdateUser:
    """An administrator changes another user's role, activity or name.

    Rules:
    - reach as in `user_administration` (403 for a `user` caller, 404 out of reach);
    - a tenant admin can neither grant `admin` nor change an `admin` (403);
    - nobody changes their own role or deactivates themselves here (409 `SelfLockout`);
    - after the commit a role change reaches the user's live sessions at once
      (`SessionStore.set_role`), a deactivation ends them (`revoke_all`), and the cached
      profile is dropped; `user.updated` is recorded with the change;
    - a request that changes nothing (no field, or the values the user has) writes and
      records nothing, after the same checks.
    """

    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        cache: Cache,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._scope, self._audit = scope, audit
        self._users, self._sessions, self._cache = users, sessions, cache
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, caller: Principal, user_id: uuid.UUID, changes: UserChanges) -> Profile:
        widen_for_admin(self._scope, caller)
        user = await reachable_user(self._users, caller, user_id)
        require_may_manage(caller, user)
        if changes.role is Role.ADMIN and caller.role is not Role.ADMIN:
            raise AdminOnly(field="role")
        new_role = changes.role is not None and changes.role is not user.role
        deactivated = changes.is_active is False and user.is_active
        if user.id == caller.user_id and (new_role or changes.is_active is False):
            raise SelfLockout(field="role" if new_role else "is_active")
        now = self._clock.now()
        if changes.full_name is not None:
            user.update_profile(
                full_name=changes.full_name, avatar_url=None, clear_avatar=False, now=now
            )
        if changes.role is not None and new_role:
            user.change_role(changes.role, now)
        if changes.is_active is not None and changes.is_active is not user.is_active:
            user.set_active(changes.is_active, now)
        profile = Profile.of(user)
        if not user.changed:
            return profile
        await self._users.save(user)
        self._audit.record(
            AuditAction.USER_UPDATED,
            tenant_id=user.tenant_id,
            actor_id=caller.user_id,
            target_type="user",
            target_id=user.id,
            details=_changed(changes, new_role=new_role, profile=profile),
        )
        payload = msgspec.to_builtins(profile) | {"updated_by": str(caller.user_id)}
        self._outbox.record(Event("user.updated", payload, tenant_id=user.tenant_id))
        await self._uow.commit()
        if deactivated:
            await self._sessions.revoke_all(user.id)
        elif new_role:
            await self._sessions.set_role(user.id, user.role)
        await self._cache.delete(profile_key(user.id))
        logger.info("user administered", extra={"user_id": str(user.id), "by": str(caller.user_id)})
        return profile


def _changed(changes: UserChanges, *, new_role: bool, profile: Profile) -> dict[str, str | bool]:
    """What the audit row says changed: the new role and activity, and that the name did."""
    details: dict[str, str | bool] = {}
    if new_role:
        details["role"] = str(profile.role)
    if changes.is_active is not None:
        details["is_active"] = profile.is_active
    if changes.full_name is not None:
        details["full_name_changed"] = True
    return details
