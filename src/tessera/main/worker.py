"""`tessera worker`: runs jobs from the Redis streams until SIGTERM, then finishes in hand.

One receiver per queue, each with the queue's concurrency (email 5, as the seed's
EmailWorker). On SIGTERM or SIGINT the receivers stop taking messages and wait for the
running jobs; a message not finished by then stays unacknowledged and is delivered to
another worker after QUEUE_REDELIVERY_SECONDS.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

import structlog
from dishka.integrations.taskiq import TaskiqProvider, setup_dishka
from prometheus_client import start_http_server
from taskiq.receiver import Receiver

from tessera.features.jobs.domain.routing import DEFAULT_QUEUE, EMAIL_QUEUE, WEBHOOKS_QUEUE
from tessera.features.jobs.ioc import redis_broker
from tessera.main.ioc import make_container
from tessera.main.settings import Settings

logger = structlog.stdlib.get_logger("tessera.worker")
CONCURRENCY = {EMAIL_QUEUE: 5, WEBHOOKS_QUEUE: 20, DEFAULT_QUEUE: 10}
SHUTDOWN_GRACE_SECONDS = 30.0


async def serve_worker(settings: Settings, queues: Sequence[str]) -> None:
    container = make_container(settings, TaskiqProvider())
    brokers = [redis_broker(settings, queue) for queue in queues]
    receivers = []
    for queue, broker in zip(queues, brokers, strict=True):
        broker.is_worker_process = True
        setup_dishka(container, broker)
        receivers.append(
            Receiver(
                broker,
                max_async_tasks=CONCURRENCY[queue],
                wait_tasks_timeout=SHUTDOWN_GRACE_SECONDS,
                propagate_exceptions=False,
            )
        )
    stop = _stop_on_signals()
    logger.info("worker started", queues=list(queues))
    try:
        await asyncio.gather(*(receiver.listen(stop) for receiver in receivers))
    finally:
        for broker in brokers:
            await broker.shutdown()
        await container.close()
        logger.info("worker stopped", queues=list(queues))


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def run_worker(settings: Settings, queues: Sequence[str], *, metrics_port: int | None) -> None:
    if metrics_port is not None:
        start_http_server(metrics_port, addr="0.0.0.0")  # noqa: S104 - scraped from the pod
    asyncio.run(serve_worker(settings, queues))
