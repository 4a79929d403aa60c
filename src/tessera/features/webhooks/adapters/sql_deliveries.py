"""Webhook deliveries on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.webhooks.adapters.models import (
    SORTABLE,
    DeliveryRows,
    WebhookDeliveryModel,
)
from tessera.features.webhooks.domain.delivery import DeliveryStatus, WebhookDelivery
from tessera.shared.adapters.paging import Filter
from tessera.shared.domain.pagination import Page, PageRequest

M = WebhookDeliveryModel


def _to_entity(model: WebhookDeliveryModel) -> WebhookDelivery:
    return WebhookDelivery(
        id=model.id,
        tenant_id=model.tenant_id,
        endpoint_id=model.endpoint_id,
        event_id=model.event_id,
        event=model.event,
        body=model.body,
        webhook_id=model.webhook_id,
        status=DeliveryStatus(model.status),
        attempts=model.attempts,
        last_status_code=model.last_status_code,
        last_error=model.last_error,
        next_attempt_at=model.next_attempt_at,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def _progress(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at,
        "updated_at": delivery.updated_at,
    }


class SqlDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, delivery: WebhookDelivery) -> bool:
        """`INSERT … ON CONFLICT (endpoint_id, event_id) DO NOTHING`: a repeat leaves the
        transaction usable, with no savepoint."""
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(M)
            .values(
                id=delivery.id,
                tenant_id=delivery.tenant_id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
                event=delivery.event,
                body=delivery.body,
                webhook_id=delivery.webhook_id,
                created_at=delivery.created_at,
                **_progress(delivery),
            )
            .on_conflict_do_nothing(index_elements=[M.endpoint_id, M.event_id])
            .returning(M.id)
        )
        return (await self._session.execute(statement)).scalar_one_or_none() is not None

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        query = select(M).where(M.id == delivery_id).execution_options(populate_existing=True)
        model = await self._session.scalar(query)
        return None if model is None else _to_entity(model)

    async def save(self, delivery: WebhookDelivery) -> None:
        await self._session.execute(
            update(M).where(M.id == delivery.id).values(**_progress(delivery)),
            execution_options={"synchronize_session": False},
        )

    async def list(self, page: PageRequest, *, endpoint_id: uuid.UUID) -> Page[WebhookDelivery]:
        rows, total = await DeliveryRows(self._session).page_of(
            page, _of_endpoint, {"endpoint_id": endpoint_id}, sortable=SORTABLE
        )
        return Page(items=[_to_entity(row) for row in rows], total_items=total, request=page)


def _of_endpoint(_names: frozenset[str]) -> list[Filter]:
    return [M.endpoint_id == bindparam("endpoint_id")]
