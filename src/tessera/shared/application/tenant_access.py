"""Which tenant a caller may act on: the tenant-access rules every feature shares.

An admin administers every tenant; a tenant admin its own; a user only itself. Another
tenant is answered as missing (404, `TenantNotFound`), so its existence does not leak. An
admin's database work takes the audited cross-tenant path of the `TenantScope`; everyone
else stays in the tenant entered when the request was authenticated.
"""

from __future__ import annotations

import uuid

from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import NotFound


class TenantNotFound(NotFound):
    default_message = "Tenant not found."


def in_reach(caller: Principal, tenant_id: uuid.UUID) -> bool:
    """Whether `caller` administers `tenant_id`: an admin any, a tenant admin its own."""
    return caller.role is Role.ADMIN or (
        caller.role is Role.TENANT_ADMIN and caller.tenant_id == tenant_id
    )


def widen_for_admin(scope: TenantScope, caller: Principal) -> None:
    """An admin administers every tenant: its database work takes the audited cross-tenant
    path. Anyone else stays in its own tenant, entered when the request was authenticated."""
    if caller.role is Role.ADMIN:
        scope.across_tenants("administration by an admin", actor=caller.user_id)


def target_tenant(caller: Principal, tenant_id: uuid.UUID | None, scope: TenantScope) -> uuid.UUID:
    """The tenant a request names (`tenant_id`, the caller's own by default): an admin may
    name any (the audited cross-tenant path); anyone else naming another tenant gets 404."""
    if tenant_id is None or tenant_id == caller.tenant_id:
        return caller.tenant_id
    if caller.role is not Role.ADMIN:
        raise TenantNotFound(field="tenant_id")
    widen_for_admin(scope, caller)
    return tenant_id
