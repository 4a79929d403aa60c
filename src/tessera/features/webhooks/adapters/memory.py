"""In-memory endpoints and deliveries: complete for one process (tests, tools).

Each operation runs without an `await` in between, so it is atomic on the event loop.
There is no transaction: writes are visible at once (the unit of work is not involved).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tessera.features.webhooks.domain.delivery import WebhookDelivery
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.shared.domain.pagination import Page, PageRequest

T = TypeVar("T", WebhookEndpoint, WebhookDelivery)


def _page(rows: Sequence[T], page: PageRequest) -> Page[T]:
    def key(row: Any) -> tuple[datetime, uuid.UUID]:
        return row.created_at, row.id

    ordered = sorted(rows, key=key, reverse=page.order == "desc")
    chosen = [copy.copy(row) for row in ordered[page.offset : page.offset + page.limit]]
    return Page(items=chosen, total_items=len(rows), request=page)


class InMemoryEndpointRepository:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, WebhookEndpoint] = {}

    async def add(self, endpoint: WebhookEndpoint) -> None:
        self.rows[endpoint.id] = copy.copy(endpoint)

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        found = self.rows.get(endpoint_id)
        return None if found is None else copy.copy(found)

    async def save(self, endpoint: WebhookEndpoint) -> None:
        if endpoint.id in self.rows:
            self.rows[endpoint.id] = copy.copy(endpoint)

    async def disable(self, endpoint_id: uuid.UUID, *, reason: str, now: datetime) -> bool:
        found = self.rows.get(endpoint_id)
        if found is None or not found.enabled:
            return False
        found.disable(reason, now)
        return True

    async def remove(self, endpoint_id: uuid.UUID) -> bool:
        return self.rows.pop(endpoint_id, None) is not None

    async def list(self, page: PageRequest, *, tenant_id: uuid.UUID) -> Page[WebhookEndpoint]:
        return _page([row for row in self.rows.values() if row.tenant_id == tenant_id], page)

    async def subscribed(self, tenant_id: uuid.UUID, event: str) -> Sequence[WebhookEndpoint]:
        found = (
            row
            for row in self.rows.values()
            if row.tenant_id == tenant_id and row.enabled and row.subscribes_to(event)
        )
        return [copy.copy(row) for row in sorted(found, key=lambda row: row.id)]


class InMemoryDeliveryRepository:
    """Deliveries; `endpoints` (when given) makes removing an endpoint remove its deliveries,
    as the foreign key does in SQL."""

    def __init__(self, endpoints: InMemoryEndpointRepository | None = None) -> None:
        self.rows: dict[uuid.UUID, WebhookDelivery] = {}
        self._endpoints = endpoints

    def _live(self) -> list[WebhookDelivery]:
        if self._endpoints is not None:
            gone = [d.id for d in self.rows.values() if d.endpoint_id not in self._endpoints.rows]
            for delivery_id in gone:
                del self.rows[delivery_id]
        return list(self.rows.values())

    async def add(self, delivery: WebhookDelivery) -> bool:
        taken = any(
            row.endpoint_id == delivery.endpoint_id and row.event_id == delivery.event_id
            for row in self._live()
        )
        if not taken:
            self.rows[delivery.id] = copy.copy(delivery)
        return not taken

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        self._live()
        found = self.rows.get(delivery_id)
        return None if found is None else copy.copy(found)

    async def save(self, delivery: WebhookDelivery) -> None:
        if delivery.id in self.rows:
            self.rows[delivery.id] = copy.copy(delivery)

    async def list(self, page: PageRequest, *, endpoint_id: uuid.UUID) -> Page[WebhookDelivery]:
        return _page([row for row in self._live() if row.endpoint_id == endpoint_id], page)
