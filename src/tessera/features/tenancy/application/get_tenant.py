from __future__ import annotations

import uuid

from tessera.features.tenancy.application.access import reachable_tenant
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal


class GetTenant:
    """One tenant within the caller's reach; any other is 404."""

    def __init__(self, tenants: TenantRepository, scope: TenantScope) -> None:
        self._scope = scope
        self._tenants = tenants

    async def execute(self, caller: Principal, tenant_id: uuid.UUID) -> Tenant:
        widen_for_admin(self._scope, caller)
        return await reachable_tenant(self._tenants, caller, tenant_id)
