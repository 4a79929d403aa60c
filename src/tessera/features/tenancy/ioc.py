from __future__ import annotations

from dishka import Provider, Scope, provide, provide_all

from tessera.features.identity.application.ports import TenantDirectory
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.features.tenancy.application.get_tenant import GetTenant
from tessera.features.tenancy.application.list_tenants import ListTenants
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.application.update_tenant import UpdateTenant


class TenancyProvider(Provider):
    scope = Scope.REQUEST

    tenants = provide(SqlTenantRepository, provides=TenantRepository)
    directory = provide(SqlTenantRepository, provides=TenantDirectory)  # for identity
    use_cases = provide_all(ListTenants, GetTenant, UpdateTenant)
