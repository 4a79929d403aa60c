"""`TenantRepository` for use-case tests: tenants in a `FakeUnitOfWork`, the whole Protocol
(checked at the bottom)."""

from __future__ import annotations

import uuid

from tessera.features.tenancy.application.ports import SORTABLE, TenantRepository
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.domain.pagination import Page, PageRequest
from tests.fakes.unit_of_work import FakeUnitOfWork, Table


class FakeTenantRepository:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, Tenant] = Table(unit_of_work)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return self.rows.get(tenant_id)

    async def list(self, page: PageRequest, *, only: uuid.UUID | None = None) -> Page[Tenant]:
        assert page.sort in SORTABLE
        found = [t for t in self.rows.values() if only in (None, t.id)]
        found.sort(key=lambda t: (getattr(t, page.sort), t.id.bytes), reverse=page.order == "desc")
        return Page(found[page.offset : page.offset + page.limit], len(found), page)

    async def save(self, tenant: Tenant) -> None:
        if tenant.id in self.rows:
            self.rows[tenant.id] = tenant


def _check(tenants: FakeTenantRepository) -> TenantRepository:
    return tenants
