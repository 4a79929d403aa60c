"""The webhooks feature's provider: repositories, guard, sender, secret box, use cases."""

from __future__ import annotations

from dishka import Provider, Scope, provide, provide_all

from tessera.features.webhooks.adapters.httpx_sender import HttpxWebhookSender
from tessera.features.webhooks.adapters.jobs import DeliverWebhookJob, WebhookEventJob
from tessera.features.webhooks.adapters.sql_deliveries import SqlDeliveryRepository
from tessera.features.webhooks.adapters.sql_endpoints import SqlEndpointRepository
from tessera.features.webhooks.adapters.ssrf_guard import DnsTargetGuard, SystemResolver
from tessera.features.webhooks.application.delete_endpoint import DeleteEndpoint
from tessera.features.webhooks.application.deliver_webhook import DeliverWebhook
from tessera.features.webhooks.application.endpoints import WebhooksConfig
from tessera.features.webhooks.application.fan_out_event import FanOutEvent
from tessera.features.webhooks.application.get_endpoint import GetEndpoint
from tessera.features.webhooks.application.list_deliveries import ListDeliveries
from tessera.features.webhooks.application.list_endpoints import ListEndpoints
from tessera.features.webhooks.application.ports import (
    DeliveryRepository,
    EndpointRepository,
    HostResolver,
    TargetGuard,
    WebhookSender,
)
from tessera.features.webhooks.application.register_endpoint import RegisterEndpoint
from tessera.features.webhooks.application.replay_delivery import ReplayDelivery
from tessera.features.webhooks.application.rotate_secret import RotateSecret
from tessera.features.webhooks.application.send_test_event import SendTestEvent
from tessera.features.webhooks.application.update_endpoint import UpdateEndpoint
from tessera.features.webhooks.domain.delivery import RetrySchedule
from tessera.main.settings import Settings
from tessera.shared.adapters.aes_gcm import WEBHOOK_SECRETS
from tessera.shared.adapters.data_key import secret_box
from tessera.shared.application.secret_box import SecretBox


class WebhooksProvider(Provider):
    scope = Scope.REQUEST

    endpoints = provide(SqlEndpointRepository, provides=EndpointRepository)
    deliveries = provide(SqlDeliveryRepository, provides=DeliveryRepository)
    use_cases = provide_all(
        RegisterEndpoint,
        ListEndpoints,
        GetEndpoint,
        UpdateEndpoint,
        DeleteEndpoint,
        RotateSecret,
        SendTestEvent,
        ListDeliveries,
        ReplayDelivery,
    )
    work = provide_all(FanOutEvent, DeliverWebhook, WebhookEventJob, DeliverWebhookJob)
    resolver = provide(SystemResolver, provides=HostResolver, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def config(self, settings: Settings) -> WebhooksConfig:
        return WebhooksConfig(schedule=RetrySchedule(tuple(settings.webhook_retry_schedule)))

    @provide(scope=Scope.APP)
    def guard(self, resolver: HostResolver, settings: Settings) -> TargetGuard:
        return DnsTargetGuard(resolver, allow_private=settings.webhook_allow_private_targets)

    @provide(scope=Scope.APP)
    def sender(self) -> WebhookSender:
        return HttpxWebhookSender()

    @provide(scope=Scope.APP)
    def secret_box(self, settings: Settings) -> SecretBox:
        """See `shared/adapters/data_key.py` for where the key comes from."""
        return secret_box(
            settings.data_encryption_key,
            uses_sqlite=settings.uses_sqlite,
            data_dir=settings.data_dir,
            purpose=WEBHOOK_SECRETS,
            feature="Webhooks are",
        )
