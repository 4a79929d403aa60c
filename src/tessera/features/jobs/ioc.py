"""Background work wiring: use cases, the job store, and the broker of each running mode."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from dishka import AsyncContainer, Provider, Scope, provide
from dishka.integrations.taskiq import setup_dishka
from taskiq import AsyncBroker, InMemoryBroker

from tessera.features.jobs.adapters.background_relay import BackgroundRelay
from tessera.features.jobs.adapters.memory_lease import InMemoryLeaderLease
from tessera.features.jobs.adapters.prometheus_metrics import PrometheusJobMetrics
from tessera.features.jobs.adapters.redis_lease import RedisLeaderLease
from tessera.features.jobs.adapters.resilient_broker import ResilientBroker, stream_broker
from tessera.features.jobs.adapters.sql_job_store import SqlJobStore
from tessera.features.jobs.adapters.taskiq_queue import InProcessJobQueue, RedisStreamJobQueue
from tessera.features.jobs.adapters.taskiq_schedules import ScheduleLeader, held_seconds
from tessera.features.jobs.adapters.taskiq_tasks import register_tasks
from tessera.features.jobs.application.list_dead_jobs import ListDeadJobs
from tessera.features.jobs.application.ports import (
    JobHandler,
    JobMetrics,
    JobQueue,
    JobStore,
    LeaderLease,
)
from tessera.features.jobs.application.prune_finished_jobs import PruneFinishedJobs
from tessera.features.jobs.application.relay_outbox import RelayOutbox
from tessera.features.jobs.application.replay_dead_job import ReplayDeadJob
from tessera.features.jobs.application.run_housekeeping import Chore, RunHousekeeping
from tessera.features.jobs.application.run_job import RunJob
from tessera.features.jobs.domain.routing import DEFAULT_QUEUE, JobRouting
from tessera.main.settings import Settings
from tessera.shared.adapters.redis_client import RedisClient
from tessera.shared.application.ports import Cache, Clock, OutboxListener, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope

KEEP_FINISHED_JOBS = timedelta(days=7)
CONSUMER_GROUP = "tessera-workers"
SCHEDULER_LEASE = "tessera:scheduler:lease"


def stream_key(settings: Settings, queue: str) -> str:
    return f"{settings.redis_key_prefix}tessera:queue:{queue}"


def redis_broker(settings: Settings, queue: str = DEFAULT_QUEUE) -> ResilientBroker:
    """A broker reading one queue's stream; every process registers the same tasks."""
    assert settings.redis is not None
    broker = stream_broker(
        settings.redis,
        queue_name=stream_key(settings, queue),
        consumer_group_name=f"{settings.redis_key_prefix}{CONSUMER_GROUP}",
        redelivery_seconds=settings.queue_redelivery_seconds,
    )
    register_tasks(broker, sweep_seconds=settings.outbox_sweep_seconds)
    return broker


def lease_holder() -> str:
    """This process's token for the scheduler lease: the host (a pod's name) and process
    id for the logs, and a random part so a restarted process never passes for its former
    self."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class JobsProvider(Provider):
    """Use cases and stores, the same in every mode."""

    metrics = provide(PrometheusJobMetrics, provides=JobMetrics, scope=Scope.APP)
    store = provide(SqlJobStore, provides=JobStore, scope=Scope.REQUEST)
    list_dead = provide(ListDeadJobs, scope=Scope.REQUEST)
    replay_dead = provide(ReplayDeadJob, scope=Scope.REQUEST)

    @provide(scope=Scope.APP)
    async def relay_listener(
        self, container: AsyncContainer, _queue: JobQueue
    ) -> AsyncIterator[OutboxListener]:
        """Depends on the queue so the queue outlives it: relays in flight at shutdown
        finish before the broker closes."""
        relay = BackgroundRelay(container)
        yield relay
        await relay.drain()

    @provide(scope=Scope.REQUEST)
    def relay(
        self,
        store: JobStore,
        uow: UnitOfWork,
        queue: JobQueue,
        routing: JobRouting,
        clock: Clock,
        settings: Settings,
    ) -> RelayOutbox:
        return RelayOutbox(
            store, uow, queue, routing, clock, lease=timedelta(seconds=settings.job_lease_seconds)
        )

    @provide(scope=Scope.REQUEST)
    def run_job(
        self,
        store: JobStore,
        uow: UnitOfWork,
        routing: JobRouting,
        handlers: Mapping[str, JobHandler],
        clock: Clock,
        metrics: JobMetrics,
        settings: Settings,
        scope: TenantScope,
    ) -> RunJob:
        lease = timedelta(seconds=settings.job_lease_seconds)
        return RunJob(store, uow, routing, handlers, clock, metrics, lease=lease, scope=scope)

    @provide(scope=Scope.REQUEST)
    def prune(self, store: JobStore, uow: UnitOfWork, clock: Clock) -> PruneFinishedJobs:
        return PruneFinishedJobs(store, uow, clock, keep=KEEP_FINISHED_JOBS)

    @provide(scope=Scope.REQUEST)
    def housekeeping(self, chores: list[Chore]) -> RunHousekeeping:
        return RunHousekeeping(chores)

    @provide(scope=Scope.APP)
    def schedule_leader(
        self,
        broker: AsyncBroker,
        lease: LeaderLease,
        cache: Cache,
        clock: Clock,
        settings: Settings,
    ) -> ScheduleLeader:
        return ScheduleLeader(
            broker, lease, cache, clock, lease_seconds=settings.scheduler_lease_seconds
        )


class RedisJobsProvider(Provider):
    """Production: jobs travel through Redis streams to separate worker processes."""

    scope = Scope.APP

    @provide
    async def broker(self, settings: Settings) -> AsyncIterator[AsyncBroker]:
        broker = redis_broker(settings)
        yield broker
        await broker.shutdown()

    @provide
    def queue(self, broker: AsyncBroker, client: RedisClient, settings: Settings) -> JobQueue:
        return RedisStreamJobQueue(broker, client, lambda queue: stream_key(settings, queue))

    @provide
    def scheduler_lease(self, client: RedisClient, settings: Settings) -> LeaderLease:
        """One key for every scheduler sharing this Redis and prefix."""
        key = f"{settings.redis_key_prefix}{SCHEDULER_LEASE}"
        seconds = held_seconds(settings.scheduler_lease_seconds)
        return RedisLeaderLease(client, key=key, holder=lease_holder(), seconds=seconds)


class InProcessJobsProvider(Provider):
    """Embedded mode: the same tasks run in this process, on its event loop."""

    scope = Scope.APP

    @provide
    async def broker(
        self, settings: Settings, container: AsyncContainer
    ) -> AsyncIterator[AsyncBroker]:
        broker = InMemoryBroker(max_async_tasks=10)
        register_tasks(broker, sweep_seconds=settings.outbox_sweep_seconds)
        setup_dishka(container, broker)
        await broker.startup()
        yield broker
        await broker.wait_all()
        await broker.shutdown()

    @provide
    def queue(self, broker: AsyncBroker) -> JobQueue:
        return InProcessJobQueue(broker)

    @provide
    def scheduler_lease(self, settings: Settings) -> LeaderLease:
        """This process is the only scheduler: it always leads."""
        seconds = held_seconds(settings.scheduler_lease_seconds)
        return InMemoryLeaderLease({}, key=SCHEDULER_LEASE, holder=lease_holder(), seconds=seconds)
