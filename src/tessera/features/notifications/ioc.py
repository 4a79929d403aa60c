from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from dishka import Provider, Scope, decorate, provide, provide_all
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.identity.application.ports import SessionStore
from tessera.features.notifications.adapters.jobs import PushNotificationJob, SecurityAlertJob
from tessera.features.notifications.adapters.sql_notifications import (
    SqlNotificationRepository,
    notification_reader,
)
from tessera.features.notifications.application.list_notifications import ListNotifications
from tessera.features.notifications.application.live_sockets import LiveSockets, LiveSocketsConfig
from tessera.features.notifications.application.mark_notification_read import (
    MarkNotificationRead,
)
from tessera.features.notifications.application.notify_security_event import NotifySecurityEvent
from tessera.features.notifications.application.ports import (
    NotificationReader,
    NotificationRepository,
)
from tessera.features.notifications.application.publish_notification import PublishNotification
from tessera.features.notifications.application.push_notification import PushNotification
from tessera.features.notifications.application.revocations import AnnouncingSessionStore
from tessera.features.notifications.http.websocket import SocketConfig
from tessera.main.settings import Settings
from tessera.shared.application.ports import Clock
from tessera.shared.application.pubsub import PubSub
from tessera.shared.application.tenant_scope import TenantScope


class NotificationsProvider(Provider):
    """Must come after the session store's provider: it decorates `SessionStore` so that
    every session ending is announced to the sockets of every process."""

    scope = Scope.REQUEST

    repository = provide(SqlNotificationRepository, provides=NotificationRepository)

    @provide
    def reader(
        self,
        engine: AsyncEngine,
        factory: async_sessionmaker[AsyncSession],
        scope: TenantScope,
    ) -> NotificationReader:
        """Committed rows, read outside the request's unit of work (decision record 0015)."""
        return notification_reader(engine, factory, scope)

    use_cases = provide_all(
        PublishNotification,
        ListNotifications,
        MarkNotificationRead,
        NotifySecurityEvent,
        PushNotification,
    )
    jobs = provide_all(PushNotificationJob, SecurityAlertJob)

    @decorate(scope=Scope.APP)
    def announce_revocations(self, sessions: SessionStore, pubsub: PubSub) -> SessionStore:
        return AnnouncingSessionStore(sessions, pubsub)

    @provide(scope=Scope.APP)
    async def live_sockets(
        self, pubsub: PubSub, sessions: SessionStore, clock: Clock
    ) -> AsyncIterator[LiveSockets]:
        sockets = LiveSockets(pubsub, sessions, clock, LiveSocketsConfig())
        yield sockets
        await sockets.aclose()

    @provide(scope=Scope.APP)
    def socket_config(self, settings: Settings) -> SocketConfig:
        """Browsers may connect from `CORS_ALLOW_ORIGINS` and from the service's own
        `PUBLIC_BASE_URL` origin."""
        own = urlsplit(settings.public_base_url)
        origins = {origin.rstrip("/").lower() for origin in settings.cors_allow_origins}
        origins.add(f"{own.scheme}://{own.netloc}".lower())
        return SocketConfig(
            allowed_origins=frozenset(origins), max_json_depth=settings.json_max_depth
        )
