"""`EndpointRepository` and `DeliveryRepository`: in memory, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.features.webhooks.adapters.memory import (
    InMemoryDeliveryRepository,
    InMemoryEndpointRepository,
)
from tessera.features.webhooks.adapters.sql_deliveries import SqlDeliveryRepository
from tessera.features.webhooks.adapters.sql_endpoints import SqlEndpointRepository
from tessera.features.webhooks.application.ports import DeliveryRepository, EndpointRepository
from tessera.features.webhooks.domain.delivery import DeliveryStatus, WebhookDelivery
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.shared.adapters.database import create_engine
from tessera.shared.application.tenant_access import TenantNotFound
from tessera.shared.domain.pagination import PageRequest
from tests import services

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Store:
    endpoints: EndpointRepository
    deliveries: DeliveryRepository
    tenant: Callable[[], Awaitable[uuid.UUID]]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        endpoints = InMemoryEndpointRepository()

        async def any_tenant() -> uuid.UUID:
            return uuid.uuid4()

        yield Store(endpoints, InMemoryDeliveryRepository(endpoints), any_tenant)
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
        await services.migrate(url)
        async for found in _sql_store(url):
            yield found
        return
    async with services.throwaway_database() as url:
        await services.migrate(url)
        async for found in _sql_store(url):
            yield found


async def _sql_store(url: str) -> AsyncIterator[Store]:
    """One session (the owner's, past row-level security) for the whole test."""
    engine = create_engine(url)
    async with AsyncSession(engine) as session:

        async def new_tenant() -> uuid.UUID:
            tenant = uuid.uuid4()
            await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
            return tenant

        yield Store(SqlEndpointRepository(session), SqlDeliveryRepository(session), new_tenant)
    await engine.dispose()


def an_endpoint(
    tenant: uuid.UUID, *, events: tuple[str, ...] = ("user.created",), minutes: int = 0
) -> WebhookEndpoint:
    return WebhookEndpoint.register(
        tenant_id=tenant,
        url="https://hooks.example.com/x",
        events=events,
        description="d",
        sealed_secret="v1:sealed",
        now=NOW + timedelta(minutes=minutes),
    )


def a_delivery(
    endpoint: WebhookEndpoint, *, event_id: uuid.UUID | None = None, minutes: int = 0
) -> WebhookDelivery:
    return WebhookDelivery.create(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=event_id or uuid.uuid4(),
        event="user.created",
        body='{"event":"user.created"}',
        now=NOW + timedelta(minutes=minutes),
    )


def oldest_first(limit: int = 50) -> PageRequest:
    return PageRequest(page=1, limit=limit, sort="created_at", order="asc")


async def test_an_endpoint_reads_back_with_every_field_and_saves_changes(store: Store) -> None:
    endpoint = an_endpoint(await store.tenant(), events=("user.created", "file.deleted"))
    await store.endpoints.add(endpoint)
    assert await store.endpoints.get(endpoint.id) == endpoint
    endpoint.rotate("v1:newer", NOW + timedelta(hours=1))
    endpoint.description = "changed"
    await store.endpoints.save(endpoint)
    assert await store.endpoints.get(endpoint.id) == endpoint
    assert await store.endpoints.get(uuid.uuid4()) is None


async def test_disable_reports_only_the_call_that_disabled(store: Store) -> None:
    endpoint = an_endpoint(await store.tenant())
    await store.endpoints.add(endpoint)
    assert await store.endpoints.disable(endpoint.id, reason="gone", now=NOW)
    assert not await store.endpoints.disable(endpoint.id, reason="again", now=NOW)
    found = await store.endpoints.get(endpoint.id)
    assert found is not None
    assert (found.enabled, found.disabled_reason) == (False, "gone")


async def test_subscribed_finds_the_tenants_enabled_subscribers_only(store: Store) -> None:
    acme, globex = await store.tenant(), await store.tenant()
    wanted = an_endpoint(acme, events=("user.created", "file.uploaded"))
    other_event = an_endpoint(acme, events=("file.deleted",))
    disabled = an_endpoint(acme)
    elsewhere = an_endpoint(globex)
    for endpoint in (wanted, other_event, disabled, elsewhere):
        await store.endpoints.add(endpoint)
    await store.endpoints.disable(disabled.id, reason="off", now=NOW)
    found = await store.endpoints.subscribed(acme, "user.created")
    assert [endpoint.id for endpoint in found] == [wanted.id]


async def test_the_list_holds_one_tenants_endpoints_in_pages(store: Store) -> None:
    acme, globex = await store.tenant(), await store.tenant()
    made = [an_endpoint(acme, minutes=n) for n in range(3)]
    for endpoint in (*made, an_endpoint(globex)):
        await store.endpoints.add(endpoint)
    first = await store.endpoints.list(oldest_first(limit=2), tenant_id=acme)
    newest = await store.endpoints.list(
        PageRequest(page=1, limit=1, sort="created_at", order="desc"), tenant_id=acme
    )
    assert [e.id for e in first.items] == [made[0].id, made[1].id]
    assert first.total_items == 3
    assert [e.id for e in newest.items] == [made[2].id]


async def test_one_delivery_per_endpoint_and_event(store: Store) -> None:
    endpoint = an_endpoint(await store.tenant())
    await store.endpoints.add(endpoint)
    event = uuid.uuid4()
    first = a_delivery(endpoint, event_id=event)
    assert await store.deliveries.add(first)
    assert not await store.deliveries.add(a_delivery(endpoint, event_id=event))
    assert await store.deliveries.get(first.id) == first
    page = await store.deliveries.list(oldest_first(), endpoint_id=endpoint.id)
    assert [d.id for d in page.items] == [first.id]


async def test_a_delivery_saves_its_progress(store: Store) -> None:
    endpoint = an_endpoint(await store.tenant())
    await store.endpoints.add(endpoint)
    delivery = a_delivery(endpoint)
    await store.deliveries.add(delivery)
    delivery.retry_at(NOW + timedelta(minutes=5), 503, "HTTP 503", NOW)
    await store.deliveries.save(delivery)
    assert await store.deliveries.get(delivery.id) == delivery
    delivery.succeed(204, NOW + timedelta(minutes=6))
    await store.deliveries.save(delivery)
    found = await store.deliveries.get(delivery.id)
    assert found is not None
    assert (found.status, found.attempts, found.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        2,
        204,
    )


async def test_removing_an_endpoint_removes_its_deliveries(store: Store) -> None:
    endpoint = an_endpoint(await store.tenant())
    await store.endpoints.add(endpoint)
    delivery = a_delivery(endpoint)
    await store.deliveries.add(delivery)
    assert await store.endpoints.remove(endpoint.id)
    assert not await store.endpoints.remove(endpoint.id)
    assert await store.deliveries.get(delivery.id) is None


async def test_sql_refuses_an_endpoint_of_an_unknown_tenant(migrated_engine: AsyncEngine) -> None:
    async with AsyncSession(migrated_engine) as session:
        with pytest.raises(TenantNotFound):
            await SqlEndpointRepository(session).add(an_endpoint(uuid.uuid4()))
