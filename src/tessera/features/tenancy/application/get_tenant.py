from __future__ import annotations

import uuid

from tessera.features.identity.domain.sessions import Principal
from tessera.features.tenancy.application.access import reachable_tenant
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant


class GetTenant:
    """One tenant within the caller's reach; any other is 404."""

    def __init__(self, tenants: TenantRepository) -> None:
        self._tenants = tenants

    async def execute(self, caller: Principal, tenant_id: uuid.UUID) -> Tenant:
        return await reachable_tenant(self._tenants, caller, tenant_id)
