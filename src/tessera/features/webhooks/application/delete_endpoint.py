from __future__ import annotations

import logging
import uuid

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.webhooks.application.endpoints import reachable_endpoint
from tessera.features.webhooks.application.ports import EndpointRepository
from tessera.features.webhooks.domain.endpoint import WebhookNotFound
from tessera.shared.application.ports import UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.webhooks")


class DeleteEndpoint:
    """Removes an endpoint with its delivery log; pending deliveries to it are dropped
    (their jobs find nothing to do)."""

    def __init__(
        self,
        endpoints: EndpointRepository,
        unit_of_work: UnitOfWork,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._endpoints, self._uow, self._scope = endpoints, unit_of_work, scope
        self._audit = audit

    async def execute(self, caller: Principal, endpoint_id: uuid.UUID) -> None:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        if not await self._endpoints.remove(endpoint.id):
            raise WebhookNotFound(field="webhook_id")  # removed meanwhile
        self._audit.record(
            AuditAction.WEBHOOK_DELETED,
            tenant_id=endpoint.tenant_id,
            actor_id=caller.user_id,
            target_type="webhook_endpoint",
            target_id=endpoint.id,
        )
        await self._uow.commit()
        logger.info(
            "webhook deleted", extra={"webhook": str(endpoint.id), "user_id": str(caller.user_id)}
        )
