from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.ports import UserFilter, UserSearch
from tessera.features.webhooks.application.endpoints import WebhooksConfig, delivery_due
from tessera.features.webhooks.application.ports import (
    DeliveryRepository,
    EndpointRepository,
    Response,
    TargetGuard,
    WebhookSender,
)
from tessera.features.webhooks.domain.delivery import (
    RETRY_AFTER_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    parse_retry_after,
    verdict,
)
from tessera.features.webhooks.domain.endpoint import WebhookEndpoint
from tessera.features.webhooks.domain.signing import signature_header, x_signature
from tessera.features.webhooks.domain.targets import UnsafeTarget
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.secret_box import SecretBox
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import PageRequest

logger = logging.getLogger("tessera.webhooks")
GONE_REASON = "the receiver answered 410 Gone"
FAILED_REASON = "deliveries kept failing until the retry schedule ran out"
USER_AGENT = "Tessera-Webhooks/1"


class DeliverWebhook:
    """One attempt of one delivery, on the worker (the `webhook.deliver` job).

    Rules:
    - a delivery no longer pending (done by an earlier run) is left alone; one whose
      endpoint is disabled fails without a request (replay it once re-enabled);
    - the URL passes the SSRF guard again and the request goes to the address just
      checked; no transaction is open while the receiver is called;
    - headers: `webhook-id` (the delivery's, the same on every attempt), a fresh
      `webhook-timestamp`, `webhook-signature` (one entry per live secret: two during a
      rotation's overlap) and `X-Signature` (the current secret only: the seed's function
      compares one value);
    - the outcome follows `domain/delivery.py`: success, 410 (fail, disable), a retry
      recorded as a new job due at the next attempt, or failure for good, which disables the
      endpoint and emails its tenant's admins (once, by whoever disabled it).
    Its writes commit with the job; if the worker dies first the job runs again and sends
    again, under the same `webhook-id`.
    """

    def __init__(
        self,
        endpoints: EndpointRepository,
        deliveries: DeliveryRepository,
        guard: TargetGuard,
        sender: WebhookSender,
        box: SecretBox,
        users: UserSearch,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: WebhooksConfig,
    ) -> None:
        self._endpoints, self._deliveries, self._guard = endpoints, deliveries, guard
        self._sender, self._box, self._users, self._outbox = sender, box, users, outbox
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, delivery_id: uuid.UUID) -> None:
        delivery = await self._deliveries.get(delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return
        endpoint = await self._endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            return
        if not endpoint.enabled:
            delivery.fail(None, "the webhook is disabled", self._clock.now(), attempted=False)
            await self._deliveries.save(delivery)
            return
        secrets = [self._box.open(s) for s in endpoint.sealed_signing_secrets(self._clock.now())]
        await self._uow.commit()  # end the reading transaction: none is held during the call
        response = await self._attempt(endpoint.url, delivery, secrets)
        await self._record(endpoint, delivery, response)

    async def _attempt(self, url: str, delivery: WebhookDelivery, secrets: list[str]) -> Response:
        try:
            target = await self._guard.check(url)
        except UnsafeTarget as refused:
            return Response(None, error=refused.message)
        body = delivery.body.encode("utf-8")
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.webhook_id, timestamp, body),
            "x-signature": x_signature(secrets[0], body),
        }
        return await self._sender.post(target, body, headers)

    async def _record(
        self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, response: Response
    ) -> None:
        now, code = self._clock.now(), response.status_code
        outcome = verdict(code)
        error = response.error or (None if outcome == "succeeded" else f"HTTP {code}")
        if outcome == "succeeded":
            assert code is not None
            delivery.succeed(code, now)
        elif outcome == "gone":
            delivery.fail(code, error, now)
            await self._endpoints.disable(endpoint.id, reason=GONE_REASON, now=now)
        else:
            await self._failed(endpoint, delivery, response, error, now)
        await self._deliveries.save(delivery)
        logger.info(
            "webhook attempt",
            extra={
                "delivery": str(delivery.id),
                "webhook": str(endpoint.id),
                "event_type": delivery.event,
                "attempt": delivery.attempts,
                "status_code": code,
                "outcome": delivery.status.value,
                "error": response.error,
            },
        )

    async def _failed(
        self,
        endpoint: WebhookEndpoint,
        delivery: WebhookDelivery,
        response: Response,
        error: str | None,
        now: datetime,
    ) -> None:
        code = response.status_code
        asked = response.retry_after if code in RETRY_AFTER_STATUSES else None
        delay = self._config.schedule.delay_after(
            delivery.attempts + 1, retry_after=parse_retry_after(asked, now=now)
        )
        if delay is not None:
            at = now + timedelta(seconds=delay)
            delivery.retry_at(at, code, error, now)
            self._outbox.record(delivery_due(delivery, at=at))
            return
        delivery.fail(code, error, now)
        if await self._endpoints.disable(endpoint.id, reason=FAILED_REASON, now=now):
            await self._tell_admins(endpoint)

    async def _tell_admins(self, endpoint: WebhookEndpoint) -> None:
        where = UserFilter(tenant_id=endpoint.tenant_id, role=Role.TENANT_ADMIN, is_active=True)
        admins = await self._users.find(where, PageRequest(limit=100, sort="created_at"))
        context = {"url": endpoint.url, "reason": FAILED_REASON, "webhook_id": str(endpoint.id)}
        for admin in admins.items:
            self._outbox.record(
                email_requested(
                    "webhook_disabled",
                    admin.email,
                    context | {"full_name": admin.full_name},
                    tenant_id=endpoint.tenant_id,
                )
            )
