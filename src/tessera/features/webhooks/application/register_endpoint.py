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
    managed_tenant,
)
from tessera.features.webhooks.application.ports import EndpointRepository, TargetGuard
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.features.webhooks.domain.signing import new_secret
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.secret_box import SecretBox
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.webhooks")


class NewWebhook(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: WebhookUrl
    events: Events
    description: Description = ""


class CreatedWebhook(WebhookView, frozen=True, kw_only=True):
    """The new endpoint and its signing secret: the only time the secret is shown."""

    secret: str


class RegisterEndpoint:
    """A tenant admin (or an admin, for any tenant) registers an endpoint.

    Rules: known events only (400); the URL passes the SSRF guard now (400, field `url`)
    and again at every send; the secret is `whsec_` + 32 random bytes, stored sealed and
    returned once.
    """

    def __init__(
        self,
        endpoints: EndpointRepository,
        guard: TargetGuard,
        box: SecretBox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._endpoints, self._guard, self._box = endpoints, guard, box
        self._uow, self._clock, self._scope = unit_of_work, clock, scope

    async def execute(
        self, caller: Principal, new: NewWebhook, *, tenant_id: uuid.UUID | None = None
    ) -> CreatedWebhook:
        tenant = managed_tenant(caller, tenant_id, self._scope)
        checked = await self._guard.check(new.url)
        secret, now = new_secret(), self._clock.now()
        endpoint = WebhookEndpoint.register(
            tenant_id=tenant,
            url=checked.url,
            events=new.events,
            description=new.description,
            sealed_secret=self._box.seal(secret),
            now=now,
        )
        await self._endpoints.add(endpoint)
        self._audit.record(
            AuditAction.WEBHOOK_CREATED,
            tenant_id=tenant,
            actor_id=caller.user_id,
            target_type="webhook_endpoint",
            target_id=endpoint.id,
        )
        await self._uow.commit()
        logger.info(
            "webhook registered",
            extra={
                "webhook": str(endpoint.id),
                "tenant_id": str(tenant),
                "user_id": str(caller.user_id),
            },
        )
        view = WebhookView.of(endpoint, now=now)
        return CreatedWebhook(**msgspec.structs.asdict(view), secret=secret)
