from __future__ import annotations

from tessera.features.identity.domain.sessions import Principal, Role
from tessera.features.tenancy.application.access import require_tenant_manager
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.domain.pagination import Page, PageRequest


class ListTenants:
    """Admins page through every tenant; a tenant admin's list holds its own tenant only."""

    def __init__(self, tenants: TenantRepository) -> None:
        self._tenants = tenants

    async def execute(self, caller: Principal, page: PageRequest) -> Page[Tenant]:
        require_tenant_manager(caller)
        only = None if caller.role is Role.ADMIN else caller.tenant_id
        return await self._tenants.list(page, only=only)
