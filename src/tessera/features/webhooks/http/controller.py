"""`/api/v1/webhooks` (SPEC §3.8): endpoints, secrets, test events and the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from tessera.features.webhooks.application.delete_endpoint import DeleteEndpoint
from tessera.features.webhooks.application.endpoints import DeliveryView, WebhookView
from tessera.features.webhooks.application.get_endpoint import GetEndpoint
from tessera.features.webhooks.application.list_deliveries import ListDeliveries
from tessera.features.webhooks.application.list_endpoints import ListEndpoints
from tessera.features.webhooks.application.register_endpoint import (
    CreatedWebhook,
    NewWebhook,
    RegisterEndpoint,
)
from tessera.features.webhooks.application.replay_delivery import ReplayDelivery
from tessera.features.webhooks.application.rotate_secret import RotatedSecret, RotateSecret
from tessera.features.webhooks.application.send_test_event import SendTestEvent
from tessera.features.webhooks.application.update_endpoint import UpdateEndpoint, WebhookChanges
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.pagination import page_request

TenantQuery = Annotated[
    uuid.UUID | None, QueryParameter(description="Admins: another tenant's webhooks.")
]


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ("webhooks",)

    @post("/", summary="Register an endpoint; the signing secret is shown only here.")
    @inject
    async def register(
        self,
        caller: FromDishka[Principal],
        data: JSONBody[NewWebhook],
        register: FromDishka[RegisterEndpoint],
        tenant_id: TenantQuery = None,
    ) -> Success[CreatedWebhook]:
        created = await register.execute(caller, data, tenant_id=tenant_id)
        return ok(created, message="Webhook registered; store its secret now")

    @get(
        "/",
        summary="The webhooks of the caller's tenant (an admin: of `tenant_id`).",
        dependencies={"paging": page_request(("created_at",), default_sort="created_at")},
    )
    @inject
    async def list_webhooks(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        endpoints: FromDishka[ListEndpoints],
        tenant_id: TenantQuery = None,
    ) -> Paginated[WebhookView]:
        found = await endpoints.execute(caller, paging, tenant_id=tenant_id)
        return paginated(found, lambda view: view)

    @get("/{webhook_id:uuid}", summary="One webhook (never its secret).")
    @inject
    async def get_webhook(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        reader: FromDishka[GetEndpoint],
    ) -> Success[WebhookView]:
        return ok(await reader.execute(caller, webhook_id))

    @patch("/{webhook_id:uuid}", summary="Change url, events, description or `enabled`.")
    @inject
    async def update(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[WebhookChanges],
        update: FromDishka[UpdateEndpoint],
    ) -> Success[WebhookView]:
        return ok(await update.execute(caller, webhook_id, data), message="Webhook updated")

    @delete("/{webhook_id:uuid}", status_code=200, summary="Delete a webhook and its log.")
    @inject
    async def remove(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        remove: FromDishka[DeleteEndpoint],
    ) -> Done:
        await remove.execute(caller, webhook_id)
        return done("Webhook deleted")

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        status_code=200,
        summary="A new secret, shown once; the old one keeps signing for 24 h.",
    )
    @inject
    async def rotate_secret(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        rotate: FromDishka[RotateSecret],
    ) -> Success[RotatedSecret]:
        rotated = await rotate.execute(caller, webhook_id)
        return ok(rotated, message="Secret rotated; store the new one now")

    @post("/{webhook_id:uuid}/test", status_code=202, summary="Queue a `webhook.test` delivery.")
    @inject
    async def send_test(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        send: FromDishka[SendTestEvent],
    ) -> Success[DeliveryView]:
        return ok(await send.execute(caller, webhook_id), message="Test event queued")

    @get(
        "/{webhook_id:uuid}/deliveries",
        summary="The webhook's delivery log.",
        dependencies={"paging": page_request(("created_at",), default_sort="created_at")},
    )
    @inject
    async def list_deliveries(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        paging: NamedDependency[PageRequest],
        deliveries: FromDishka[ListDeliveries],
    ) -> Paginated[DeliveryView]:
        return paginated(await deliveries.execute(caller, webhook_id, paging), lambda view: view)

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        status_code=202,
        summary="Send a failed delivery again (same webhook-id and body).",
    )
    @inject
    async def replay(
        self,
        caller: FromDishka[Principal],
        webhook_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
        replay: FromDishka[ReplayDelivery],
    ) -> Success[DeliveryView]:
        replayed = await replay.execute(caller, webhook_id, delivery_id)
        return ok(replayed, message="Delivery queued again")
