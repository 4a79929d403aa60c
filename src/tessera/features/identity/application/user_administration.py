"""Who may administer which user (SPEC §3.5), shared by the admin users use cases.

An `admin` reaches every live user; a `tenant_admin` the live users of its own tenant; a
`user` nobody (403). A user out of reach is answered as missing (404), exactly like a user
that does not exist or was deleted, so other tenants' accounts never leak.
"""

from __future__ import annotations

import uuid

from tessera.features.identity.application.ports import UserRepository
from tessera.features.identity.domain.user import User
from tessera.shared.application.tenant_access import in_reach
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Conflict, Forbidden, NotFound

MANAGERS = frozenset({Role.ADMIN, Role.TENANT_ADMIN})


class UserNotFound(NotFound):
    default_message = "User not found."


class NotAUserManager(Forbidden):
    default_message = "Only administrators can manage users."


class AdminOnly(Forbidden):
    """A tenant admin may neither grant `admin` nor change or delete an `admin`."""

    default_message = "Only an admin can grant the admin role or manage an admin."


class SelfLockout(Conflict):
    """Demoting, deactivating or deleting yourself here could lock you out (409)."""

    default_message = (
        "You cannot change your own role, deactivate or delete yourself here; "
        "use DELETE /users/me to delete your account."
    )


def require_user_manager(caller: Principal) -> None:
    if caller.role not in MANAGERS:
        raise NotAUserManager()


async def reachable_user(users: UserRepository, caller: Principal, user_id: uuid.UUID) -> User:
    """The live user `user_id` if the caller may administer it; 403 for a `user` caller,
    404 for anyone missing, deleted or in another tenant (for a tenant admin)."""
    require_user_manager(caller)
    user = await users.get(user_id)
    if user is None or not in_reach(caller, user.tenant_id):
        raise UserNotFound(field="user_id")
    return user


def require_may_manage(caller: Principal, target: User) -> None:
    """Changing or deleting: a tenant admin cannot touch an `admin` account."""
    if target.role is Role.ADMIN and caller.role is not Role.ADMIN:
        raise AdminOnly()
