"""The composition root: which adapter serves each port, chosen from the settings.

Nothing here connects at import time; engines and clients are made when first asked for
and closed by `container.close()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from dishka import AsyncContainer, Provider, Scope, from_context, make_async_container, provide
from dishka.entities.validation_settings import STRICT_VALIDATION
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.audit.application.prune_audit_events import PruneAuditEvents
from tessera.features.audit.ioc import AuditProvider
from tessera.features.backups.ioc import BackupsProvider
from tessera.features.email.adapters.health import MailProbe
from tessera.features.email.adapters.send_email_job import SendEmailJob
from tessera.features.email.application.ports import Mailer
from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.email.ioc import EmailProvider
from tessera.features.files.adapters.user_purged_job import PurgedUserFilesJob
from tessera.features.files.application.reconcile_files import ReconcileFiles
from tessera.features.files.ioc import FilesProvider
from tessera.features.flags.ioc import FlagsProvider
from tessera.features.identity.adapters.user_purged_job import USER_PURGED, UserPurgedJob
from tessera.features.identity.application.accounts import USER_SECURITY_ALERT
from tessera.features.identity.application.prune_spent_links import PruneSpentLinks
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.ioc import (
    IdentityProvider,
    MemorySessionsProvider,
    RedisSessionsProvider,
)
from tessera.features.jobs.adapters.health import QueueProbe
from tessera.features.jobs.application.every_handler import EveryHandler
from tessera.features.jobs.application.ports import JobHandler, JobQueue
from tessera.features.jobs.application.prune_finished_jobs import PruneFinishedJobs
from tessera.features.jobs.application.run_housekeeping import Chore
from tessera.features.jobs.domain.job import RetryPolicy
from tessera.features.jobs.domain.routing import (
    DEFAULT_QUEUE,
    EMAIL_QUEUE,
    WEBHOOKS_QUEUE,
    JobRoute,
    JobRouting,
)
from tessera.features.jobs.ioc import InProcessJobsProvider, JobsProvider, RedisJobsProvider
from tessera.features.notifications.adapters.jobs import PushNotificationJob, SecurityAlertJob
from tessera.features.notifications.application.views import NOTIFICATION_PUBLISHED
from tessera.features.notifications.ioc import NotificationsProvider
from tessera.features.ops.adapters.pool_gauges import (
    PoolGauges,
    redis_pool_reading,
    sqlalchemy_pool_reading,
)
from tessera.features.ops.adapters.probes import CacheProbe, SqlDatabaseProbe, StorageProbe
from tessera.features.ops.application.ports import HealthProbe
from tessera.features.ops.ioc import OpsProvider
from tessera.features.tenancy.ioc import TenancyProvider
from tessera.features.webhooks.adapters.jobs import (
    FANNED_OUT_EVENTS,
    DeliverWebhookJob,
    WebhookEventJob,
)
from tessera.features.webhooks.application.endpoints import WEBHOOK_DELIVER
from tessera.features.webhooks.ioc import WebhooksProvider
from tessera.main.settings import Settings
from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.database import (
    SessionPool,
    SqlAlchemyUnitOfWork,
    create_engine,
    session_factory,
)
from tessera.shared.adapters.local_storage import LocalFileStorage, UrlSigner
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.adapters.memory_pubsub import InMemoryPubSub
from tessera.shared.adapters.outbox import SqlOutbox
from tessera.shared.adapters.redis_batching import CommandBatcher, batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import (
    REDIS_TIMEOUT_SECONDS,
    RedisClient,
    connect_redis,
)
from tessera.shared.adapters.redis_pubsub import RedisPubSub
from tessera.shared.adapters.s3_storage import S3Config, S3FileStorage
from tessera.shared.application.event_loop import OneLoopLock
from tessera.shared.application.ports import Cache, Clock, Outbox, OutboxListener, UnitOfWork
from tessera.shared.application.pubsub import PubSub
from tessera.shared.application.rate_limits import RateLimiter
from tessera.shared.application.storage import FileStorage
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.di import ConnectionProvider


class CoreProvider(Provider):
    settings = from_context(provides=Settings, scope=Scope.APP)
    clock = provide(SystemClock, provides=Clock, scope=Scope.APP)

    @provide(scope=Scope.APP)
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            transaction_pooling=settings.database_transaction_pooling,
        )
        yield engine
        await engine.dispose()

    @provide(scope=Scope.APP)
    def session_factory(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return session_factory(engine)

    tenant_scope = provide(TenantScope, scope=Scope.REQUEST)

    @provide(scope=Scope.APP)
    def session_pool(self, factory: async_sessionmaker[AsyncSession]) -> SessionPool:
        return SessionPool(factory)

    @provide(scope=Scope.REQUEST)
    async def session(self, pool: SessionPool, scope: TenantScope) -> AsyncIterator[AsyncSession]:
        """Every transaction begins in the request's `TenantScope` (row-level security on
        PostgreSQL). Back to the pool at the end of the request: closed first only if a
        transaction is still open (closing costs a greenlet round trip, and a request that
        only reads a cache never begins one)."""
        async with pool.session(scope) as session:
            yield session

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self, session: AsyncSession, listener: OutboxListener) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(session, listener)

    outbox = provide(SqlOutbox, provides=Outbox, scope=Scope.REQUEST)
    rate_limiter = provide(RateLimiter, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def client_ips(self, settings: Settings) -> ClientIpResolver:
        return ClientIpResolver(settings.trusted_proxies)


class RedisProvider(Provider):
    """Production: state shared by every process lives in Redis."""

    scope = Scope.APP

    @provide
    async def client(self, settings: Settings) -> AsyncIterator[RedisClient]:
        """Of a server, a Sentinel's primary or a Cluster, as the settings say."""
        assert settings.redis is not None
        client = connect_redis(settings.redis)
        yield client
        await client.aclose()

    @provide
    async def batcher(self, settings: Settings) -> AsyncIterator[CommandBatcher]:
        """A client of its own: no socket timeout on its pool, the batcher bounds a batch."""
        assert settings.redis is not None
        client = connect_redis(settings.redis, socket_timeout=None)
        yield batcher_for(client, timeout=REDIS_TIMEOUT_SECONDS)
        await client.aclose()

    @provide
    def cache(self, batcher: CommandBatcher, settings: Settings) -> Cache:
        return RedisCache(batcher, prefix=settings.redis_key_prefix)

    @provide
    async def pubsub(self, client: RedisClient, settings: Settings) -> AsyncIterator[PubSub]:
        """One shared subscriber connection and reader task per process; closed first."""
        pubsub = RedisPubSub(client, prefix=settings.redis_key_prefix)
        yield pubsub
        await pubsub.aclose()

    @provide
    def pool_gauges(
        self, engine: AsyncEngine, client: RedisClient, batcher: CommandBatcher
    ) -> PoolGauges:
        """A cluster client's connections are not counted: it has no pool to ask."""
        pools = [c.connection_pool for c in (client, batcher.client) if isinstance(c, Redis)]
        return PoolGauges(
            sqlalchemy_pool_reading(engine.pool), redis_pool_reading(*pools) if pools else None
        )


class MemoryProvider(Provider):
    """Embedded mode: one process, so memory is the shared state."""

    scope = Scope.APP

    @provide
    def cache(self) -> Cache:
        return InMemoryCache()

    @provide
    async def pubsub(self) -> AsyncIterator[PubSub]:
        pubsub = InMemoryPubSub()
        yield pubsub
        await pubsub.aclose()

    @provide
    def pool_gauges(self, engine: AsyncEngine) -> PoolGauges:
        return PoolGauges(sqlalchemy_pool_reading(engine.pool), None)


class StorageProvider(Provider):
    """`FileStorage`: an S3 bucket when `S3_BUCKET` is set, else `DATA_DIR/storage`, whose
    links go through the app's own route, signed by `UrlSigner`."""

    scope = Scope.APP

    @provide
    def url_signer(self, settings: Settings) -> UrlSigner:
        return UrlSigner.from_jwt_secret(settings.jwt_secret_key)

    @provide
    def storage(self, settings: Settings, signer: UrlSigner) -> FileStorage:
        if settings.uses_object_store:
            assert settings.s3_bucket is not None
            config = S3Config(
                endpoint_url=settings.s3_endpoint_url,
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                access_key_id=settings.aws_access_key_id,
                secret_access_key=settings.aws_secret_access_key,
            )
            return S3FileStorage(config)
        root = Path(settings.data_dir) / "storage"
        return LocalFileStorage(root, signer, settings.public_base_url)


class WorkProvider(Provider):
    """Which job types exist: their queue, retry policy and handler, from every feature."""

    @provide(scope=Scope.APP)
    def routing(self, settings: Settings) -> JobRouting:
        base = settings.job_retry_base_seconds
        email = JobRoute(EMAIL_QUEUE, RetryPolicy(max_attempts=3, base_delay=base))
        default = JobRoute(DEFAULT_QUEUE, RetryPolicy(max_attempts=5, base_delay=base))
        # webhook.deliver keeps its own schedule (a new job per attempt); this policy only
        # retries a run that failed on our side (database, secret box)
        webhooks = JobRoute(WEBHOOKS_QUEUE, RetryPolicy(max_attempts=5, base_delay=base))
        return JobRouting({EMAIL_SEND: email, WEBHOOK_DELIVER: webhooks}, default=default)

    @provide(scope=Scope.REQUEST)
    def handlers(
        self,
        send_email: SendEmailJob,
        avatars: UserPurgedJob,
        files: PurgedUserFilesJob,
        security_alert: SecurityAlertJob,
        push_notification: PushNotificationJob,
        webhook_events: WebhookEventJob,
        deliver_webhook: DeliverWebhookJob,
    ) -> Mapping[str, JobHandler]:
        """One handler per type; several features' work on one type runs behind
        `EveryHandler` (a purged account's avatars, then its files)."""
        return {
            EMAIL_SEND: send_email,
            USER_PURGED: EveryHandler(avatars, files),
            USER_SECURITY_ALERT: security_alert,
            NOTIFICATION_PUBLISHED: push_notification,
            **dict.fromkeys(FANNED_OUT_EVENTS, webhook_events),
            WEBHOOK_DELIVER: deliver_webhook,
        }

    @provide(scope=Scope.REQUEST)
    def chores(
        self,
        jobs: PruneFinishedJobs,
        links: PruneSpentLinks,
        accounts: PurgeDeletedAccounts,
        files: ReconcileFiles,
        audit: PruneAuditEvents,
    ) -> list[Chore]:
        """The hourly housekeeping of every feature."""
        return [jobs, links, accounts, files, audit]

    @provide(scope=Scope.APP)
    def probes(
        self,
        engine: AsyncEngine,
        cache: Cache,
        queue: JobQueue,
        mailer: Mailer,
        storage: FileStorage,
    ) -> list[HealthProbe]:
        return [
            SqlDatabaseProbe(engine),
            CacheProbe(cache),
            QueueProbe(queue, engine),
            MailProbe(mailer),
            StorageProbe(storage),
        ]


def make_container(settings: Settings, *overrides: Provider) -> AsyncContainer:
    """Build the container; `overrides` replace adapters (their factories say `override=True`)."""
    embedded = settings.is_embedded
    return make_async_container(
        CoreProvider(),
        MemoryProvider() if embedded else RedisProvider(),
        InProcessJobsProvider() if embedded else RedisJobsProvider(),
        MemorySessionsProvider() if embedded else RedisSessionsProvider(),
        IdentityProvider(),
        TenancyProvider(),
        JobsProvider(),
        EmailProvider(),
        StorageProvider(),
        WorkProvider(),
        OpsProvider(),
        FlagsProvider(),
        BackupsProvider(),
        FilesProvider(),
        NotificationsProvider(),  # after the session store's provider: it decorates it
        WebhooksProvider(),
        AuditProvider(),
        ConnectionProvider(),
        *overrides,
        context={Settings: settings},
        validation_settings=STRICT_VALIDATION,
        lock_factory=OneLoopLock,
    )
