from __future__ import annotations

import logging
import uuid

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.webhooks.application.endpoints import (
    Description,
    Events,
    WebhookUrl,
    WebhookView,
    reachable_endpoint,
)
from tessera.features.webhooks.application.ports import EndpointRepository, TargetGuard
from tessera.features.webhooks.domain.endpoint import check_description, check_events
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.webhooks")


class WebhookChanges(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class UpdateEndpoint:
    """Changes url, events, description or enabled state; a new URL passes the SSRF guard
    again; enabling clears the reason it was disabled for (deliveries that failed meanwhile
    stay failed until replayed). A change that changes nothing writes nothing: `updated_at`
    stays."""

    def __init__(
        self,
        endpoints: EndpointRepository,
        guard: TargetGuard,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._endpoints, self._guard, self._uow = endpoints, guard, unit_of_work
        self._clock, self._scope = clock, scope

    async def execute(
        self, caller: Principal, endpoint_id: uuid.UUID, changes: WebhookChanges
    ) -> WebhookView:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        now = self._clock.now()
        before = (endpoint.url, list(endpoint.events), endpoint.description, endpoint.enabled)
        if not isinstance(changes.url, msgspec.UnsetType) and changes.url != endpoint.url:
            endpoint.url = (await self._guard.check(changes.url)).url
        if not isinstance(changes.events, msgspec.UnsetType):
            endpoint.events = check_events(changes.events)
        if not isinstance(changes.description, msgspec.UnsetType):
            endpoint.description = check_description(changes.description)
        if changes.enabled is True and not endpoint.enabled:
            endpoint.enable(now)
        elif changes.enabled is False and endpoint.enabled:
            endpoint.disable("disabled by an administrator", now)
        if (endpoint.url, list(endpoint.events), endpoint.description, endpoint.enabled) == before:
            return WebhookView.of(endpoint, now=now)
        endpoint.updated_at = now
        await self._endpoints.save(endpoint)
        after = (endpoint.url, list(endpoint.events), endpoint.description, endpoint.enabled)
        names = ("url", "events", "description", "enabled")
        fields = ",".join(
            name for name, old, new in zip(names, before, after, strict=True) if old != new
        )
        self._audit.record(
            AuditAction.WEBHOOK_UPDATED,
            tenant_id=endpoint.tenant_id,
            actor_id=caller.user_id,
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            details={"fields": fields},
        )
        await self._uow.commit()
        logger.info(
            "webhook updated", extra={"webhook": str(endpoint.id), "user_id": str(caller.user_id)}
        )
        return WebhookView.of(endpoint, now=now)
