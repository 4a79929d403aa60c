"""What tenancy needs from the outside world."""

from __future__ import annotations

import uuid
from typing import Protocol

from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.domain.pagination import Page, PageRequest

SORTABLE = ("created_at", "name")


class TenantRepository(Protocol):
    """Tenants in the request's unit of work; the caller commits."""

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None: ...

    async def list(self, page: PageRequest, *, only: uuid.UUID | None = None) -> Page[Tenant]:
        """One page sorted by `page.sort` (one of `SORTABLE`), ties broken by id; `only`
        restricts the list to that one tenant."""
        ...

    async def save(self, tenant: Tenant) -> None: ...
