"""Who may see and change which tenant (SPEC §3.5): admins every tenant, a tenant admin its
own, a user none through these endpoints. Another tenant is answered as missing (404), so
its existence does not leak."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_access import TenantNotFound, in_reach
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden


class TenantView(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant as the API shows it."""

    id: uuid.UUID
    name: str
    is_active: bool
    mfa_required: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantView:
        return cls(
            id=tenant.id,
            name=tenant.name,
            is_active=tenant.is_active,
            mfa_required=tenant.mfa_required,
            created_at=tenant.created_at,
            updated_at=tenant.updated_at,
        )


def require_tenant_manager(caller: Principal) -> None:
    if caller.role not in (Role.ADMIN, Role.TENANT_ADMIN):
        raise Forbidden("Only administrators can manage tenants.")


async def reachable_tenant(
    tenants: TenantRepository, caller: Principal, tenant_id: uuid.UUID
) -> Tenant:
    require_tenant_manager(caller)
    tenant = await tenants.get(tenant_id) if in_reach(caller, tenant_id) else None
    if tenant is None:
        raise TenantNotFound(field="tenant_id")
    return tenant
