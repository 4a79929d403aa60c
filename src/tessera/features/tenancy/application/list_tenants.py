from __future__ import annotations

from tessera.features.tenancy.application.access import require_tenant_manager
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import Page, PageRequest


class ListTenants:
    """Admins page through every tenant; a tenant admin's list holds its own tenant only."""

    def __init__(self, tenants: TenantRepository, scope: TenantScope) -> None:
        self._scope = scope
        self._tenants = tenants

    async def execute(self, caller: Principal, page: PageRequest) -> Page[Tenant]:
        widen_for_admin(self._scope, caller)
        require_tenant_manager(caller)
        only = None if caller.role is Role.ADMIN else caller.tenant_id
        return await self._tenants.list(page, only=only)
