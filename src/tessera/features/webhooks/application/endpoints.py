"""What the webhook use cases share: configuration, views, reach, and the events they record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from tessera.features.webhooks.application.ports import EndpointRepository
from tessera.features.webhooks.domain.delivery import RetrySchedule, WebhookDelivery
from tessera.features.webhooks.domain.endpoint import (
    MAX_DESCRIPTION,
    MAX_URL,
    WebhookEndpoint,
    WebhookEvent,
    WebhookNotFound,
)
from tessera.shared.application.tenant_access import target_tenant, widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden
from tessera.shared.domain.events import Event
from tessera.shared.domain.patterns import HTTP_URL

WEBHOOK_DELIVER = "webhook.deliver"


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    schedule: RetrySchedule


class NotAWebhookManager(Forbidden):
    default_message = "Only administrators can manage webhooks."


class WebhookView(msgspec.Struct, frozen=True, kw_only=True):
    """An endpoint as the API shows it: never a secret."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    secret_rotation_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, *, now: datetime) -> WebhookView:
        overlap = endpoint.previous_secret_expires_at
        return cls(
            id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            secret_rotation_ends_at=overlap if overlap is not None and overlap > now else None,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


# What a webhook's request bodies take. The rest of the URL's rules (a host, no credentials,
# a port in range, an address that is public unless WEBHOOK_ALLOW_PRIVATE_TARGETS) need
# parsing and DNS: the SSRF guard checks them (a 400 naming `url`).
WebhookUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=HTTP_URL,
        max_length=MAX_URL,
        extra_json_schema={  # Litestar reads the description and `extra` from here
            "description": "Where deliveries go; its host must resolve to a public address.",
            "extra": {"format": "uri"},
        },
    ),
]
Events = Annotated[list[WebhookEvent], msgspec.Meta(min_length=1)]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION)]

# Not the endpoint's id: the delivery's `webhook-id` header (Standard Webhooks), the same on
# every attempt, so a receiver can match what it logged with this log.
MessageId = Annotated[
    str, msgspec.Meta(pattern="^msg_[0-9a-f]{32}$", description="The `webhook-id` header sent.")
]


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    webhook_id: MessageId
    event: str
    status: str
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryView:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event=delivery.event,
            status=delivery.status.value,
            attempts=delivery.attempts,
            response_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


def require_manager(caller: Principal) -> None:
    """Webhooks are managed by tenant admins (their tenant's) and admins (any tenant)."""
    if caller.role not in (Role.ADMIN, Role.TENANT_ADMIN):
        raise NotAWebhookManager()


def managed_tenant(caller: Principal, tenant_id: uuid.UUID | None, scope: TenantScope) -> uuid.UUID:
    """The tenant whose webhooks a manager acts on (`target_tenant`'s rules)."""
    require_manager(caller)
    return target_tenant(caller, tenant_id, scope)


async def reachable_endpoint(
    endpoints: EndpointRepository, scope: TenantScope, caller: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """An endpoint of the caller's tenant (an admin: of any tenant); else 404."""
    require_manager(caller)
    widen_for_admin(scope, caller)
    endpoint = await endpoints.get(endpoint_id)
    if endpoint is None or (
        caller.role is not Role.ADMIN and endpoint.tenant_id != caller.tenant_id
    ):
        raise WebhookNotFound(field="webhook_id")
    return endpoint


def webhook_body(event: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The payload every receiver gets: `{"event","timestamp","data"}`, UTC with `Z`."""
    timestamp = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return msgspec.json.encode({"event": event, "timestamp": timestamp, "data": data}).decode()


def delivery_due(delivery: WebhookDelivery, *, at: datetime) -> Event:
    """The job that makes the delivery's next attempt, not before `at` (the outbox row's
    `available_at`; the sweep hands it over when it falls due)."""
    return Event(
        WEBHOOK_DELIVER,
        {"delivery_id": str(delivery.id)},
        tenant_id=delivery.tenant_id,
        occurred_at=at,
    )
