"""Tenants on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.tenancy.adapters.models import TenantModel
from tessera.features.tenancy.application.ports import SORTABLE
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.adapters.paging import Filter, Rows
from tessera.shared.domain.pagination import Page, PageRequest


class _Tenants(Rows[TenantModel]):
    model_type = TenantModel


def to_entity(model: TenantModel) -> Tenant:
    return Tenant(
        id=model.id,
        name=model.name,
        is_active=model.is_active,
        mfa_required=model.mfa_required,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


class SqlTenantRepository:
    """`TenantRepository`, and identity's `TenantDirectory` (`create` for registration,
    `requires_mfa` for sign-in)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, *, tenant_id: uuid.UUID, name: str) -> None:
        self._session.add(TenantModel(id=tenant_id, name=name.strip()[:255]))
        await self._session.flush()  # before the user row that references it

    async def name(self, tenant_id: uuid.UUID) -> str | None:
        found: str | None = await self._session.scalar(
            select(TenantModel.name).where(TenantModel.id == tenant_id)
        )
        return found

    async def requires_mfa(self, tenant_id: uuid.UUID) -> bool:
        required = await self._session.scalar(
            select(TenantModel.mfa_required).where(TenantModel.id == tenant_id)
        )
        return bool(required)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        model = await self._session.get(TenantModel, tenant_id)
        return None if model is None else to_entity(model)

    async def list(self, page: PageRequest, *, only: uuid.UUID | None = None) -> Page[Tenant]:
        values = {} if only is None else {"only": only}
        rows, total = await _Tenants(self._session).page_of(
            page, _conditions, values, sortable=SORTABLE
        )
        return Page(items=[to_entity(row) for row in rows], total_items=total, request=page)

    async def save(self, tenant: Tenant) -> None:
        await self._session.execute(
            update(TenantModel)
            .where(TenantModel.id == tenant.id)
            .values(
                name=tenant.name,
                is_active=tenant.is_active,
                mfa_required=tenant.mfa_required,
                updated_at=tenant.updated_at,
            ),
            execution_options={"synchronize_session": False},
        )


def _conditions(names: frozenset[str]) -> list[Filter]:
    return [TenantModel.id == bindparam("only")] if "only" in names else []
