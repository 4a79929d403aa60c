"""The webhooks feature's provider: repositories, guard, sender, secret box, use cases."""

from __future__ import annotations

from dishka import Provider, Scope, provide, provide_all

from tessera.features.webhooks.adapters.aes_gcm import AesGcmSecretBox
from tessera.features.webhooks.adapters.data_key import UnconfiguredSecretBox, key_from_file
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
from tessera.features.webhooks.application.secret_box import SecretBox
from tessera.features.webhooks.application.send_test_event import SendTestEvent
from tessera.features.webhooks.application.update_endpoint import UpdateEndpoint
from tessera.features.webhooks.domain.delivery import RetrySchedule
from tessera.main.settings import Settings


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
        """See `adapters/data_key.py` for where the key comes from."""
        key = settings.data_encryption_key
        if key is None and settings.uses_sqlite:
            key = key_from_file(settings.data_dir)
        return UnconfiguredSecretBox() if key is None else AesGcmSecretBox.from_base64(key)
