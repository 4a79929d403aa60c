"""`/api/v1/tenants` (SPEC §3.5)."""

from __future__ import annotations

import uuid

from litestar import Controller, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from tessera.features.tenancy.application.access import TenantView
from tessera.features.tenancy.application.get_tenant import GetTenant
from tessera.features.tenancy.application.list_tenants import ListTenants
from tessera.features.tenancy.application.ports import SORTABLE
from tessera.features.tenancy.application.update_tenant import TenantChanges, UpdateTenant
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Paginated, Success, ok, paginated
from tessera.shared.http.pagination import page_request


class TenantsController(Controller):
    path = "/tenants"
    tags = ("tenants",)

    @get(
        "/",
        summary="Tenants: every one for an admin, its own for a tenant admin.",
        dependencies={"paging": page_request(SORTABLE)},
    )
    @inject
    async def list_tenants(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        tenants: FromDishka[ListTenants],
    ) -> Paginated[TenantView]:
        return paginated(await tenants.execute(caller, paging), TenantView.of)

    @get("/{tenant_id:uuid}", summary="One tenant within the caller's reach.")
    @inject
    async def get_tenant(
        self,
        caller: FromDishka[Principal],
        tenant_id: FromPath[uuid.UUID],
        tenant: FromDishka[GetTenant],
    ) -> Success[TenantView]:
        return ok(TenantView.of(await tenant.execute(caller, tenant_id)))

    @patch("/{tenant_id:uuid}", summary="Rename a tenant, or require MFA of its users.")
    @inject
    async def update_tenant(
        self,
        caller: FromDishka[Principal],
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[TenantChanges],
        update: FromDishka[UpdateTenant],
    ) -> Success[TenantView]:
        return ok(TenantView.of(await update.execute(caller, tenant_id, data)))
