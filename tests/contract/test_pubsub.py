"""The `PubSub` contract, run against the in-memory adapter and against real Redis: one
server, a Sentinel's primary and a Cluster."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tessera.main.ioc import make_container
from tessera.shared.adapters.memory_pubsub import InMemoryPubSub
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.adapters.redis_pubsub import RedisPubSub
from tessera.shared.application.event_loop import WrongEventLoop
from tessera.shared.application.pubsub import PubSub, SubscriberTooSlow, Subscription
from tessera.shared.domain.errors import DependencyUnavailable
from tests import services
from tests.e2e.harness import settings_for
from tests.redis_topologies import MODES, redis_for, settings_of
from tests.unit.shared.test_event_loop import in_another_loop


@pytest.fixture(params=["memory", *MODES])
async def pubsub(request: pytest.FixtureRequest) -> AsyncIterator[PubSub]:
    if request.param == "memory":
        memory = InMemoryPubSub()
        yield memory
        await memory.aclose()
        return
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology)
        adapter = RedisPubSub(client, prefix=prefix)
        yield adapter
        await adapter.aclose()
        await client.aclose()


@pytest.fixture
async def plain_redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(services.TEST_REDIS_URL)
    yield client
    await client.aclose()


async def take(subscription: Subscription, count: int) -> list[tuple[str, bytes]]:
    received: list[tuple[str, bytes]] = []
    async with asyncio.timeout(5):
        async for item in subscription:
            received.append(item)
            if len(received) == count:
                break
    return received


async def nothing_more(pubsub: PubSub, subscription: Subscription, channel: str) -> None:
    """Nothing is queued before a marker published now on `channel` (which it receives)."""
    await pubsub.publish(channel, b"marker")
    assert await take(subscription, 1) == [(channel, b"marker")]


async def test_a_message_reaches_every_subscription_of_its_channel_and_no_other(
    pubsub: PubSub,
) -> None:
    async with (
        pubsub.subscribe("user.1") as first,
        pubsub.subscribe("user.1", "global") as second,
        pubsub.subscribe("user.2") as other,
    ):
        await pubsub.publish("user.1", b"hello")
        await pubsub.publish("user.3", b"nobody listens")
        assert await take(first, 1) == [("user.1", b"hello")]
        assert await take(second, 1) == [("user.1", b"hello")]
        await nothing_more(pubsub, other, "user.2")
        await nothing_more(pubsub, first, "user.1")


async def test_channels_can_be_added_and_removed_after_subscribing(pubsub: PubSub) -> None:
    async with pubsub.subscribe() as subscription:
        await subscription.add("tenant.7", "user.1")
        await pubsub.publish("tenant.7", b"a")
        await pubsub.publish("user.1", b"b")
        assert await take(subscription, 2) == [("tenant.7", b"a"), ("user.1", b"b")]
        await subscription.remove("tenant.7")
        await pubsub.publish("tenant.7", b"gone")
        await nothing_more(pubsub, subscription, "user.1")


async def test_messages_of_a_channel_arrive_in_publishing_order(pubsub: PubSub) -> None:
    async with pubsub.subscribe("user.1", "user.2") as subscription:
        for n in range(500):
            await pubsub.publish(f"user.{n % 2 + 1}", str(n).encode())
        received = await take(subscription, 500)
    for channel in ("user.1", "user.2"):
        numbers = [int(message) for name, message in received if name == channel]
        assert numbers == sorted(numbers)
        assert len(numbers) == 250


async def test_leaving_the_context_stops_delivery(pubsub: PubSub) -> None:
    async with pubsub.subscribe("global") as staying:
        async with pubsub.subscribe("global") as leaving:
            await pubsub.publish("global", b"1")
            assert await take(leaving, 1) == [("global", b"1")]
        await pubsub.publish("global", b"2")
        assert await take(staying, 2) == [("global", b"1"), ("global", b"2")]
        assert [item async for item in leaving] == [], "a left subscription iterates no more"


async def test_a_slow_subscriber_is_closed_alone_and_never_blocks_the_publisher(
    pubsub: PubSub,
) -> None:
    async with pubsub.subscribe("global") as fast, pubsub.subscribe("global") as slow:
        reading = asyncio.create_task(take(fast, 1500))
        async with asyncio.timeout(10):
            for n in range(1500):
                await pubsub.publish("global", str(n).encode())
                if n % 100 == 0:
                    await asyncio.sleep(0)  # the in-memory publish never yields by itself
        assert [int(message) for _, message in await reading] == list(range(1500))
        with pytest.raises(SubscriberTooSlow):
            await anext(aiter(slow))
        with pytest.raises(SubscriberTooSlow):
            await slow.add("user.1")
        await nothing_more(pubsub, fast, "global")


async def test_redis_subscribes_only_to_wanted_channels_with_the_prefix(
    redis_prefix: str, plain_redis: Redis
) -> None:
    client = connect_redis(services.TEST_REDIS_URL)
    pubsub = RedisPubSub(client, prefix=redis_prefix)
    pattern = f"{redis_prefix}pubsub:*"
    try:
        async with pubsub.subscribe("user.1") as first, pubsub.subscribe("user.1", "global"):
            assert sorted(await plain_redis.pubsub_channels(pattern)) == [
                f"{redis_prefix}pubsub:global".encode(),
                f"{redis_prefix}pubsub:user.1".encode(),
            ]
            await first.remove("user.1")
            assert len(await plain_redis.pubsub_channels(pattern)) == 2, "another still wants it"
        assert await plain_redis.pubsub_channels(pattern) == []
    finally:
        await pubsub.aclose()
        await client.aclose(close_connection_pool=True)


@pytest.mark.parametrize("mode", MODES)
async def test_redis_delivers_across_processes(request: pytest.FixtureRequest, mode: str) -> None:
    """On a cluster each subscriber listens on the node its first channel hashes to, and
    publishers publish on the node theirs does: the cluster carries every message to all."""
    async with redis_for(request, mode) as (topology, prefix):
        clients = [connect_redis(topology) for _ in range(2)]
        here, there = (RedisPubSub(client, prefix=prefix) for client in clients)
        channels = [f"tenant.{n}" for n in range(12)]  # hashed onto every node of three
        try:
            async with there.subscribe(*channels) as subscription:
                for channel in channels:
                    await here.publish(channel, b"from the other process")
                received = await take(subscription, len(channels))
                # one channel keeps its order; on a cluster, several channels may not
                assert sorted(received) == sorted((c, b"from the other process") for c in channels)
        finally:
            for adapter in (here, there):
                await adapter.aclose()
            for client in clients:
                await client.aclose()


async def test_redis_subscriptions_share_one_connection(
    redis_prefix: str, plain_redis: Redis
) -> None:
    name = f"tessera-test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(services.TEST_REDIS_URL, client_name=name)
    pubsub = RedisPubSub(client, prefix=redis_prefix)
    subscriptions = [pubsub.subscribe(f"user.{n}", "global") for n in range(200)]
    try:
        for subscription in subscriptions:
            await subscription.__aenter__()
        await pubsub.publish("global", b"to all")
        for subscription in subscriptions:
            assert await take(subscription, 1) == [("global", b"to all")]
        ours = [c for c in await plain_redis.client_list() if c.get("name") == name]
        assert [int(c["sub"]) for c in ours if int(c["sub"])] == [201], "one subscribed link"
        assert len(ours) <= 2, "one to subscribe, one to publish"
        assert pubsub.connection_count == 1
    finally:
        for subscription in subscriptions:
            await subscription.__aexit__(None, None, None)
        await pubsub.aclose()
        await client.aclose(close_connection_pool=True)


async def test_redis_resubscribes_after_the_connection_drops(
    redis_prefix: str, plain_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"tessera-test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(services.TEST_REDIS_URL, client_name=name)
    pubsub = RedisPubSub(client, prefix=redis_prefix, min_backoff=0.05)
    try:
        async with pubsub.subscribe("user.1") as subscription:
            links = [c for c in await plain_redis.client_list() if c.get("name") == name]
            subscribed = [c["id"] for c in links if int(c["sub"])]
            assert len(subscribed) == 1
            assert await plain_redis.client_kill_filter(_id=subscribed[0]) == 1
            async with asyncio.timeout(10):
                while True:
                    await pubsub.publish("user.1", b"back?")
                    try:
                        async with asyncio.timeout(0.2):
                            assert await anext(aiter(subscription)) == ("user.1", b"back?")
                            break
                    except TimeoutError:
                        continue
        assert "connection lost" in caplog.text
    finally:
        await pubsub.aclose()
        await client.aclose(close_connection_pool=True)


async def test_publish_to_redis_that_does_not_answer_is_dependency_unavailable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    pubsub = RedisPubSub(client)
    try:
        with pytest.raises(DependencyUnavailable):
            await pubsub.publish("global", b"x")
    finally:
        await pubsub.aclose()
        await client.aclose()


@pytest.mark.parametrize("mode", ["memory", *MODES])
async def test_the_container_provides_one_pubsub_and_closes_it(
    request: pytest.FixtureRequest, mode: str, sqlite_url: str
) -> None:
    """The settings of each topology lead to it: REDIS_URL, REDIS_SENTINELS with
    REDIS_SENTINEL_SERVICE, REDIS_CLUSTER_URL."""
    env = {"database_url": sqlite_url}
    async with contextlib.AsyncExitStack() as stack:
        if mode != "memory":
            topology, prefix = await stack.enter_async_context(redis_for(request, mode))
            env |= settings_of(topology) | {"redis_key_prefix": prefix}
        container = make_container(settings_for(**env))
        try:
            pubsub = await container.get(PubSub)
            assert await container.get(PubSub) is pubsub
            subscription = await pubsub.subscribe("global").__aenter__()
            await pubsub.publish("global", b"hi")
            assert await take(subscription, 1) == [("global", b"hi")]
        finally:
            await container.close()
        assert [item async for item in subscription] == [], "closing ends every subscription"
        if mode != "memory":
            checker = connect_redis(topology)
            try:
                assert await checker.pubsub_channels(f"{prefix}pubsub:*") == []
            finally:
                await checker.aclose()


async def test_closing_ends_every_subscriptions_iteration_and_may_be_repeated(
    pubsub: PubSub,
) -> None:
    async with pubsub.subscribe("user.1") as first, pubsub.subscribe("global") as second:
        await pubsub.publish("global", b"before")
        assert await take(second, 1) == [("global", b"before")]
        await pubsub.aclose()
        await pubsub.aclose()
        assert await take(first, 1) == []
        assert await take(second, 1) == []


async def test_another_event_loop_is_refused_at_once(pubsub: PubSub) -> None:
    """A publisher or subscriber on a second loop would wake this loop's waiters from the
    wrong thread; it is refused instead."""
    async with pubsub.subscribe("news") as subscription:  # this loop owns the pub/sub now

        async def subscribe() -> None:
            async with pubsub.subscribe("other"):
                pass

        with pytest.raises(WrongEventLoop, match="The pub/sub"):
            await in_another_loop(lambda: pubsub.publish("news", b"lost"))
        with pytest.raises(WrongEventLoop, match="The pub/sub"):
            await in_another_loop(subscribe)
        await nothing_more(pubsub, subscription, "news")
