"""A Redis Cluster that loses a node, or whose slots no node covers, is Redis unavailable
(`DependencyUnavailable`, a 503 with Retry-After over HTTP), never another error; and a fresh
cluster client's first commands, sent all at once, all succeed.

The clusters that lose a node are this module's own (`ClusterRedis` has no replicas, so the
lost node's slots stay uncovered); the shared one (`cluster_redis`) is only read and written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.crc import key_slot
from redis.exceptions import ClusterDownError

from tessera.features.identity.adapters.redis_sessions import RedisSessionStore
from tessera.features.jobs.adapters.resilient_broker import stream_broker
from tessera.features.jobs.adapters.taskiq_queue import RedisStreamJobQueue
from tessera.features.jobs.adapters.taskiq_tasks import RUN_JOB
from tessera.features.jobs.domain.job import Job
from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.outages import outage
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import RedisClient, connect_redis
from tessera.shared.adapters.redis_pubsub import RedisPubSub
from tessera.shared.application.rate_limits import RateLimiter, RateLimitGroup, RoleLimits
from tessera.shared.domain.errors import DependencyUnavailable
from tests.redis_topologies import ClusterRedis, started

pytestmark = pytest.mark.slow

PREFIX = "outage:"
API = RateLimitGroup("api", limit=10)
LIMITS = RoleLimits(api=API, admin=RateLimitGroup("admin", limit=20))
CALLERS = 6
"""Keys `k0`..`k5` and their rate-limit keys: some on the lost node, some elsewhere."""


@pytest.fixture
def own_cluster() -> Iterator[ClusterRedis]:
    """A cluster of this test's own: it loses a node."""
    with started(ClusterRedis()) as cluster:
        yield cluster


async def outcome(call: Awaitable[Any]) -> str:
    """`ok` or `unavailable` (checked to be a Redis outage); any other error fails the test."""
    try:
        await call
    except DependencyUnavailable as error:
        down = outage(error)
    else:
        return "ok"
    assert down is not None
    assert (down.dependency, down.retry_after) == ("redis", 5), down
    return "unavailable"


class Users:
    """What a server and a sender make of one topology: cache, rate limits and sessions
    through the batcher, pub/sub and the queue's depth through the plain client, sends
    through a broker."""

    def __init__(self, cluster: ClusterRedis) -> None:
        topology = cluster.topology
        self.client: RedisClient = connect_redis(topology)
        self._batched = connect_redis(topology, socket_timeout=None)
        self.cache = RedisCache(batcher_for(self._batched), prefix=PREFIX)
        self.limiter = RateLimiter(self.cache, SystemClock())
        self.sessions = RedisSessionStore(batcher_for(self._batched), prefix=PREFIX)
        self.pubsub = RedisPubSub(self.client, prefix=PREFIX)
        self._sender = stream_broker(
            topology, queue_name=f"{PREFIX}queue", consumer_group_name="w", redelivery_seconds=60
        )
        self._sender.register_task(lambda job: None, task_name=RUN_JOB)
        self.queue = RedisStreamJobQueue(self._sender, self.client, lambda name: PREFIX + name)

    async def every_call(self, n: int) -> list[str]:
        """Each call's outcome; the last is a PUBLISH, which a failed cluster still takes."""
        now = datetime.now(UTC)
        job = Job(str(uuid.uuid4()), "email.send", {}, 0, now.isoformat())
        return [
            await outcome(self.cache.set(f"k{n}", b"v", ttl_seconds=60)),
            await outcome(self.cache.get(f"k{n}")),
            await outcome(self.limiter.hit(API, f"caller-{n}")),
            await outcome(self.queue.enqueue(job, queue="email_queue")),
            await outcome(self.queue.depths()),
            await outcome(
                self.sessions.touch(
                    uuid.uuid4(), uuid.uuid4(), now=now, idle_seconds=60, count_in=LIMITS
                )
            ),
            await outcome(self.pubsub.publish("news", b"hello")),
        ]

    async def aclose(self) -> None:
        await self.pubsub.aclose()
        await self._sender.shutdown()
        for client in (self.client, self._batched):
            await client.aclose()


async def test_a_lost_node_makes_redis_unavailable_and_never_raises_anything_else(
    own_cluster: ClusterRedis,
) -> None:
    before = Users(own_cluster)
    try:
        assert await before.every_call(0) == ["ok"] * 7
        own_cluster.nodes[1].kill()
        # At first only the lost node's slots fail; the others still answer.
        seen = {o for n in range(CALLERS) for o in await before.every_call(n)}
        assert seen == {"ok", "unavailable"}
        # Once the other nodes hold it down, the cluster refuses commands on every slot.
        await asyncio.to_thread(own_cluster.wait_until_down)
        for n in range(CALLERS):
            assert (await before.every_call(n))[:-1] == ["unavailable"] * 6
        after = Users(own_cluster)  # a process started while the node is away
        try:
            assert (await after.every_call(0))[:-1] == ["unavailable"] * 6
        finally:
            await after.aclose()
    finally:
        await before.aclose()


async def test_a_layout_that_leaves_slots_uncovered_is_redis_unavailable(
    own_cluster: ClusterRedis,
) -> None:
    """The node a client starts from forgets the cluster (as one restarted without its
    `nodes.conf`): it knows no slot, and redis-py refuses the layout it reads from it."""
    first = own_cluster.nodes[0].client
    first.flushall()  # a primary with keys cannot be reset
    first.cluster("RESET", "HARD")
    users = Users(own_cluster)
    try:
        assert await users.every_call(0) == ["unavailable"] * 7
        with pytest.raises(ClusterDownError, match="All slots are not covered"):
            await users.client.get("anything")
    finally:
        await users.aclose()


async def test_a_fresh_client_serves_many_first_commands_at_once(
    cluster_redis: ClusterRedis,
) -> None:
    """Each round is a new client whose first commands all start together, on keys of every
    node: without the layout read first, some failed with `AttributeError` ('NoneType' object
    has no attribute 'writelines') or "Connection closed by server"."""
    keys = [f"{PREFIX}{uuid.uuid4().hex}:{n}" for n in range(40)]
    assert len({key_slot(key.encode()) * 3 // 16384 for key in keys}) == 3  # every node's third
    for _ in range(10):
        client = connect_redis(cluster_redis.topology)
        try:
            answers = await asyncio.gather(*(client.incr(key) for key in keys))
        finally:
            await client.aclose()
        assert len(set(answers)) == 1, answers  # every key counted once more
    check = connect_redis(cluster_redis.topology)
    try:
        assert [await check.get(key) for key in keys] == [b"10"] * len(keys)
    finally:
        for key in keys:
            await check.delete(key)
        await check.aclose()
