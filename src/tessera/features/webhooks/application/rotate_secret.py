from __future__ import annotations

import logging
import uuid
from datetime import datetime

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.webhooks.application.endpoints import reachable_endpoint
from tessera.features.webhooks.application.ports import EndpointRepository
from tessera.features.webhooks.domain.signing import new_secret
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.secret_box import SecretBox
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.webhooks")


class RotatedSecret(msgspec.Struct, frozen=True, kw_only=True):
    """The new secret, shown once, and when the previous one stops signing."""

    secret: str
    previous_secret_expires_at: datetime


class RotateSecret:
    """A new signing secret; the current one becomes the previous one and keeps signing
    for 24 h beside it (two `webhook-signature` entries). A second rotation within those
    24 h drops the oldest secret at once."""

    def __init__(
        self,
        endpoints: EndpointRepository,
        box: SecretBox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._endpoints, self._box, self._uow = endpoints, box, unit_of_work
        self._clock, self._scope = clock, scope

    async def execute(self, caller: Principal, endpoint_id: uuid.UUID) -> RotatedSecret:
        endpoint = await reachable_endpoint(self._endpoints, self._scope, caller, endpoint_id)
        secret = new_secret()
        endpoint.rotate(self._box.seal(secret), self._clock.now())
        await self._endpoints.save(endpoint)
        self._audit.record(
            AuditAction.WEBHOOK_SECRET_ROTATED,
            tenant_id=endpoint.tenant_id,
            actor_id=caller.user_id,
            target_type="webhook_endpoint",
            target_id=endpoint.id,
        )
        await self._uow.commit()
        logger.info(
            "webhook secret rotated",
            extra={"webhook": str(endpoint.id), "user_id": str(caller.user_id)},
        )
        assert endpoint.previous_secret_expires_at is not None
        return RotatedSecret(
            secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
        )
