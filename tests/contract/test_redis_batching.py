"""`CommandBatcher` against real Redis: every reply, error and cancellation reaching exactly
the caller it belongs to, however the commands of a turn are grouped; then what holds on
every topology (one server, a Sentinel's primary, a Cluster). How many commands share a
round trip is the batcher's business and a benchmark's figure (`just bench`), not asserted
here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tessera.shared.adapters.redis_batching import ClusterBatcher, CommandBatcher, batcher_for
from tessera.shared.adapters.redis_client import RedisClient, connect_redis
from tessera.shared.application.event_loop import WrongEventLoop
from tests import services
from tests.redis_topologies import MODES, ClusterRedis, redis_for
from tests.unit.shared.test_event_loop import in_another_loop

pytestmark = pytest.mark.redis


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    await services.check_redis()
    # No socket timeout, as the batcher's client is built: the batcher bounds each batch.
    pool = BlockingConnectionPool.from_url(services.TEST_REDIS_URL, socket_timeout=None)
    client = Redis(connection_pool=pool)
    yield client
    await client.aclose(close_connection_pool=True)


async def number(client: RedisClient, key: str) -> int:
    value = await client.get(key)
    assert isinstance(value, bytes), value
    return int(value)


async def test_commands_of_one_turn_each_get_their_own_reply(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    keys = [f"{redis_prefix}k{n}" for n in range(50)]
    await asyncio.gather(*(batcher.execute("SET", key, f"v{n}") for n, key in enumerate(keys)))
    values = await asyncio.gather(*(batcher.execute("GET", key) for key in keys))
    assert values == [f"v{n}".encode() for n in range(50)]


async def test_a_lone_command_goes_out_without_waiting_for_company(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    async with asyncio.timeout(5):
        assert await batcher.execute("INCR", f"{redis_prefix}n") == 1


async def test_a_command_that_cannot_be_packed_fails_its_batch_instead_of_hanging(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    await batcher.execute("PING")
    good = batcher.execute("INCR", f"{redis_prefix}n")
    bad = batcher.execute("SET", f"{redis_prefix}k", {"not": "packable"})  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        results = await asyncio.gather(good, bad, return_exceptions=True)
    assert all(isinstance(result, Exception) for result in results)
    assert await batcher.execute("INCR", f"{redis_prefix}n") == 1, "nothing of it was sent"


async def test_a_kept_connection_the_server_closed_is_replaced(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    kept = await batcher.execute("CLIENT", "ID")
    killer = connect_redis(services.TEST_REDIS_URL)
    try:
        assert await killer.client_kill_filter(_id=kept) == 1
        await asyncio.sleep(0.1)  # the loop sees the end of the stream
        assert await batcher.execute("INCR", f"{redis_prefix}n") == 1
    finally:
        await killer.aclose(close_connection_pool=True)


async def test_replies_are_shaped_as_the_client_shapes_them(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    replies = list(
        await asyncio.gather(
            batcher.execute("SET", f"{redis_prefix}k", 1.5, "PX", 60_000),
            batcher.execute("PING"),
            batcher.execute("GET", f"{redis_prefix}k"),
        )
    )
    assert replies == [True, True, b"1.5"]
    assert replies == [
        await client.set(f"{redis_prefix}k", 1.5, px=60_000),
        await client.ping(),
        await client.get(f"{redis_prefix}k"),
    ]


async def test_redis_that_stops_answering_fails_the_batch_and_the_connection_is_not_reused(
    client: Redis, redis_prefix: str
) -> None:
    # A slow Lua script holds the reply past the batcher's deadline (shrunk for the test).
    batcher = CommandBatcher(client, timeout=0.1)
    spin = (
        "local t = redis.call('TIME') while true do local n = redis.call('TIME') "
        "if (n[1] - t[1]) * 1e6 + n[2] - t[2] > 300000 then break end end return 1"
    )
    with pytest.raises(RedisTimeoutError):
        await batcher.execute("EVAL", spin, 0)
    await asyncio.sleep(0.5)  # the script finishes; its late reply must not reach anyone
    assert await batcher.execute("INCR", f"{redis_prefix}n") == 1


async def test_a_large_turn_is_split_into_several_batches(client: Redis, redis_prefix: str) -> None:
    batcher = CommandBatcher(client, max_batch=8)
    counts = await asyncio.gather(*(batcher.execute("INCR", f"{redis_prefix}n") for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))


async def test_a_failing_command_fails_only_its_caller(client: Redis, redis_prefix: str) -> None:
    batcher = CommandBatcher(client)
    await client.set(f"{redis_prefix}text", "not a number")
    results = await asyncio.gather(
        batcher.execute("INCR", f"{redis_prefix}n"),
        batcher.execute("INCR", f"{redis_prefix}text"),
        batcher.execute("INCR", f"{redis_prefix}n"),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert results[2] == 2
    assert isinstance(results[1], ResponseError)
    alone = batcher.execute("INCR", f"{redis_prefix}text")
    with pytest.raises(ResponseError):
        await alone


async def test_a_script_unknown_to_redis_is_loaded_and_run_for_every_caller(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    script = batcher.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await client.script_flush()
    results = await asyncio.gather(
        *(batcher.run(script, keys=[f"{redis_prefix}n"], args=[step]) for step in (1, 10, 100))
    )
    assert max(results) == 111
    assert len(set(results)) == 3
    assert await number(client, f"{redis_prefix}n") == 111


async def test_a_cancelled_caller_does_not_disturb_the_rest_of_its_batch(
    client: Redis, redis_prefix: str
) -> None:
    batcher = CommandBatcher(client)
    first = asyncio.ensure_future(batcher.execute("INCR", f"{redis_prefix}n"))
    second = asyncio.ensure_future(batcher.execute("INCR", f"{redis_prefix}n"))
    await asyncio.sleep(0)  # both are queued in this turn's batch
    first.cancel()
    assert await second in (1, 2)
    assert first.cancelled()
    await asyncio.sleep(0.05)
    assert await number(client, f"{redis_prefix}n") == 2  # queued commands are still sent


async def test_an_unreachable_redis_fails_every_caller_with_its_own_error() -> None:
    client = connect_redis("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    batcher = CommandBatcher(client)
    try:
        results = await asyncio.gather(
            *(batcher.execute("GET", f"k{n}") for n in range(3)), return_exceptions=True
        )
    finally:
        await client.aclose(close_connection_pool=True)
    assert all(isinstance(result, RedisConnectionError) for result in results)
    assert len({id(result) for result in results}) == 3


async def test_another_event_loop_is_refused_at_once(client: Redis, redis_prefix: str) -> None:
    """Its flush would complete the other loop's futures from the wrong thread."""
    batcher = CommandBatcher(client)
    assert await batcher.execute("INCR", f"{redis_prefix}n") == 1
    with pytest.raises(WrongEventLoop, match="The Redis command batcher"):
        await in_another_loop(lambda: batcher.execute("INCR", f"{redis_prefix}n"))
    assert await batcher.execute("INCR", f"{redis_prefix}n") == 2, "nothing of it was sent"


# Every topology: a server, the primary a Sentinel names, a Cluster (`ClusterBatcher`, which
# sends each command through the cluster client, routed by key).


@pytest.fixture(params=MODES)
async def routed(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisClient, str]]:
    """The batcher's kind of client (no socket timeout) on each topology, and a prefix."""
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology, socket_timeout=None)
        yield client, prefix
        await client.aclose()


async def test_every_topology_answers_each_caller_with_its_own_reply(
    routed: tuple[RedisClient, str],
) -> None:
    client, prefix = routed
    batcher = batcher_for(client)
    keys = [f"{prefix}k{n}" for n in range(50)]  # on a cluster: every node has some
    await asyncio.gather(*(batcher.execute("SET", key, f"v{n}") for n, key in enumerate(keys)))
    values = await asyncio.gather(*(batcher.execute("GET", key) for key in keys))
    assert values == [f"v{n}".encode() for n in range(50)]
    assert [await client.get(key) for key in keys] == values


async def test_every_topology_shapes_replies_as_its_client_does(
    routed: tuple[RedisClient, str],
) -> None:
    client, prefix = routed
    batcher = batcher_for(client)
    commands = [("SET", f"{prefix}k", 1.5, "PX", 60_000), ("GET", f"{prefix}k"), ("PING",)]
    batched = [await batcher.execute(*command) for command in commands]  # GET after SET
    direct = [
        await client.set(f"{prefix}k", 1.5, px=60_000),
        await client.get(f"{prefix}k"),
        await client.ping(),
    ]
    assert batched == direct


async def test_every_topology_fails_only_the_caller_of_a_failing_command(
    routed: tuple[RedisClient, str],
) -> None:
    client, prefix = routed
    batcher = batcher_for(client)
    await client.set(f"{prefix}text", "not a number")
    results = await asyncio.gather(
        batcher.execute("INCR", f"{prefix}n"),
        batcher.execute("INCR", f"{prefix}text"),
        batcher.execute("INCR", f"{prefix}n"),
        return_exceptions=True,
    )
    assert {results[0], results[2]} == {1, 2}  # a cluster runs them in no set order
    assert isinstance(results[1], ResponseError)


async def test_every_topology_loads_an_unknown_script_for_every_caller(
    routed: tuple[RedisClient, str],
) -> None:
    """On a cluster the script is loaded on every primary, and each key's node runs it."""
    client, prefix = routed
    batcher = batcher_for(client)
    script = batcher.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await client.script_flush()
    keys = [f"{prefix}n{n}" for n in range(12)]
    results = await asyncio.gather(
        *(batcher.run(script, keys=[key], args=[n]) for n, key in enumerate(keys))
    )
    assert results == list(range(12))
    assert [await number(client, key) for key in keys] == list(range(12))


async def test_a_cluster_command_across_hash_slots_fails_only_its_caller(
    cluster_redis: ClusterRedis,
) -> None:
    """The cluster client refuses it before sending: the rest of the batch goes on."""
    client = connect_redis(cluster_redis.topology, socket_timeout=None)
    batcher = batcher_for(client)
    one, other = f"{{{uuid.uuid4()}}}", f"{{{uuid.uuid4()}}}"
    try:
        # On a cluster, commands of one turn run side by side, in no set order: set first.
        assert await batcher.execute("SET", f"{one}:a", 1) is True
        results = await asyncio.gather(
            batcher.execute("DEL", f"{one}:a", f"{other}:a"),
            batcher.execute("DEL", f"{one}:a", f"{one}:b"),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
    assert isinstance(results[0], RedisClusterException)
    assert results[1] == 1


async def test_a_cluster_batch_waits_for_connections_instead_of_failing(
    cluster_redis: ClusterRedis,
) -> None:
    """redis-py's cluster client fails at once when a node's connections are all busy;
    the batcher keeps at most `max_in_flight` commands out, the rest waiting their turn."""
    client = connect_redis(cluster_redis.topology, max_connections=4, socket_timeout=None)
    batcher = ClusterBatcher(client, max_in_flight=4)
    key = f"test:{uuid.uuid4().hex[:12]}:n"
    try:
        counts = await asyncio.gather(*(batcher.execute("INCR", key) for _ in range(200)))
    finally:
        await client.aclose()
    assert sorted(counts) == list(range(1, 201))


async def test_a_cluster_that_stops_answering_fails_the_batch_and_recovers(
    cluster_redis: ClusterRedis,
) -> None:
    client = connect_redis(cluster_redis.topology, socket_timeout=None)
    batcher = ClusterBatcher(client, timeout=0.1)
    spin = (
        "local t = redis.call('TIME') while true do local n = redis.call('TIME') "
        "if (n[1] - t[1]) * 1e6 + n[2] - t[2] > 300000 then break end end return 1"
    )
    key = f"test:{uuid.uuid4().hex[:12]}:n"
    try:
        with pytest.raises(RedisTimeoutError):
            await batcher.execute("EVAL", spin, 1, key)
        await asyncio.sleep(0.5)  # the script finishes; its late reply must not reach anyone
        assert await batcher.execute("INCR", key) == 1
    finally:
        await client.aclose()
