"""Webhook endpoints on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.webhooks.adapters.models import (
    SORTABLE,
    EndpointRows,
    WebhookEndpointModel,
)
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.shared.adapters.paging import Filter
from tessera.shared.application.tenant_access import TenantNotFound
from tessera.shared.domain.pagination import Page, PageRequest

M = WebhookEndpointModel


def _to_entity(model: WebhookEndpointModel) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=model.id,
        tenant_id=model.tenant_id,
        url=model.url,
        events=tuple(model.events),
        description=model.description,
        enabled=model.enabled,
        disabled_reason=model.disabled_reason,
        sealed_secret=model.secret,
        sealed_previous_secret=model.previous_secret,
        previous_secret_expires_at=model.previous_secret_expires_at,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def _writable(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "secret": endpoint.sealed_secret,
        "previous_secret": endpoint.sealed_previous_secret,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        "updated_at": endpoint.updated_at,
    }


class SqlEndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, endpoint: WebhookEndpoint) -> None:
        self._session.add(
            M(
                id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                created_at=endpoint.created_at,
                **_writable(endpoint),
            )
        )
        try:
            await self._session.flush()
        except IntegrityError:  # the only constraint a new id can break: the tenant's key
            raise TenantNotFound(field="tenant_id") from None

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        query = select(M).where(M.id == endpoint_id).execution_options(populate_existing=True)
        model = await self._session.scalar(query)
        return None if model is None else _to_entity(model)

    async def save(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(
            update(M).where(M.id == endpoint.id).values(**_writable(endpoint)),
            execution_options={"synchronize_session": False},
        )

    async def disable(self, endpoint_id: uuid.UUID, *, reason: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(M)
            .where(M.id == endpoint_id, M.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason[:500], updated_at=now),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def remove(self, endpoint_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(M).where(M.id == endpoint_id), execution_options={"synchronize_session": False}
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def list(self, page: PageRequest, *, tenant_id: uuid.UUID) -> Page[WebhookEndpoint]:
        rows, total = await EndpointRows(self._session).page_of(
            page, _of_tenant, {"tenant_id": tenant_id}, sortable=SORTABLE
        )
        return Page(items=[_to_entity(row) for row in rows], total_items=total, request=page)

    async def subscribed(self, tenant_id: uuid.UUID, event: str) -> Sequence[WebhookEndpoint]:
        """A tenant has a handful of endpoints: the events list is filtered here rather than
        with JSON operators that differ between PostgreSQL and SQLite."""
        rows = await self._session.scalars(
            select(M).where(M.tenant_id == tenant_id, M.enabled.is_(True)).order_by(M.id)
        )
        return [endpoint for endpoint in map(_to_entity, rows) if endpoint.subscribes_to(event)]


def _of_tenant(_names: frozenset[str]) -> list[Filter]:
    return [M.tenant_id == bindparam("tenant_id")]
