"""The webhooks feature's ports."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tessera.features.webhooks.domain.delivery import WebhookDelivery
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.features.webhooks.domain.targets import CheckedTarget
from tessera.shared.domain.pagination import Page, PageRequest


class EndpointRepository(Protocol):
    """Webhook endpoints, in the caller's unit of work (under row-level security, the rows
    of the transaction's tenant only)."""

    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None: ...

    async def save(self, endpoint: WebhookEndpoint) -> None:
        """Write back url, events, description, enabled state and secrets."""
        ...

    async def disable(self, endpoint_id: uuid.UUID, *, reason: str, now: datetime) -> bool:
        """Disable it unless it already is; True only when this call disabled it (so a
        notification goes out once, however many deliveries fail together)."""
        ...

    async def remove(self, endpoint_id: uuid.UUID) -> bool:
        """Delete it and its deliveries; False when it was already gone."""
        ...

    async def list(self, page: PageRequest, *, tenant_id: uuid.UUID) -> Page[WebhookEndpoint]:
        """One tenant's endpoints by `created_at` (`page.order`), ties broken by id."""
        ...

    async def subscribed(self, tenant_id: uuid.UUID, event: str) -> Sequence[WebhookEndpoint]:
        """The tenant's enabled endpoints subscribed to `event`."""
        ...


class DeliveryRepository(Protocol):
    """Webhook deliveries, in the caller's unit of work."""

    async def add(self, delivery: WebhookDelivery) -> bool:
        """Store it; False (and nothing stored) when its endpoint already has a delivery of
        the same event, so a repeated fan-out job delivers nothing twice."""
        ...

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None: ...

    async def save(self, delivery: WebhookDelivery) -> None:
        """Write back status, attempts, last response, next attempt and `updated_at`."""
        ...

    async def list(self, page: PageRequest, *, endpoint_id: uuid.UUID) -> Page[WebhookDelivery]:
        """One endpoint's deliveries by `created_at` (`page.order`), ties broken by id."""
        ...


class HostResolver(Protocol):
    """DNS: the addresses a host name resolves to for TCP on `port`; empty when it does not
    resolve. Never raises for a name that does not exist."""

    async def addresses(self, host: str, port: int) -> Sequence[str]: ...


class TargetGuard(Protocol):
    """The SSRF check of a webhook URL (SPEC §3.8): its shape, then EVERY address its host
    resolves to. Raises `UnsafeTarget` (400, field `url`) naming the rule; returns the
    checked addresses, the only ones a delivery may connect to."""

    async def check(self, url: str) -> CheckedTarget: ...


@dataclass(frozen=True, slots=True)
class Response:
    """What one attempt got: a status (and `Retry-After`, raw), or an error and no status."""

    status_code: int | None
    retry_after: str | None = None
    error: str | None = None


class WebhookSender(Protocol):
    """POSTs one delivery to a checked target.

    Connects only to `target.addresses` (in order, the next one if a connection is refused),
    never resolving the host again, while sending the URL's host as `Host` and, for https,
    as TLS SNI and certificate name. Follows no redirect (a 3xx is returned as it is), gives
    up after 15 s in all, and never raises for the receiver's or the network's failures:
    they come back as `Response(None, error=...)`.
    """

    async def post(
        self, target: CheckedTarget, body: bytes, headers: Mapping[str, str]
    ) -> Response: ...
