"""The `LeaderLease` contract, run against the in-memory adapter and against real Redis:
one holder at a time, kept by renewing, lost when left to run out, and every call checked
against the holder's token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tessera.features.jobs.adapters.memory_lease import InMemoryLeaderLease, LeaseTable
from tessera.features.jobs.adapters.redis_lease import RedisLeaderLease
from tessera.features.jobs.application.ports import LeaderLease
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.domain.errors import DependencyUnavailable
from tests import services
from tests.e2e.processes import free_port

SECONDS = 1.0
Holder = Callable[[str], LeaderLease]


@pytest.fixture(params=["memory", "redis"])
async def holder(request: pytest.FixtureRequest) -> AsyncIterator[Holder]:
    """`holder(name)`: the lease `scheduler` as the holder `name` sees it."""
    if request.param == "memory":
        table: LeaseTable = {}
        yield lambda name: InMemoryLeaderLease(table, key="scheduler", holder=name, seconds=SECONDS)
        return
    async with services.redis_namespace() as prefix:
        client = connect_redis(services.TEST_REDIS_URL)
        yield lambda name: RedisLeaderLease(
            client, key=f"{prefix}scheduler", holder=name, seconds=SECONDS
        )
        await client.aclose(close_connection_pool=True)


async def test_one_holder_at_a_time(holder: Holder) -> None:
    a, b = holder("a"), holder("b")
    assert await a.acquire()
    assert not await b.acquire()
    assert not await a.acquire(), "a holder renews; acquiring again is refused"
    assert (a.key, a.holder) == (b.key, "a")


async def test_renewing_keeps_it_past_its_first_term_and_only_the_holder_can(
    holder: Holder,
) -> None:
    a, b = holder("a"), holder("b")
    await a.acquire()
    assert not await b.renew(), "b's token is not the holder's"
    await asyncio.sleep(SECONDS * 0.6)
    assert await a.renew()
    await asyncio.sleep(SECONDS * 0.6)  # past the first term, within the renewed one
    assert not await b.acquire()
    assert await a.renew()


async def test_left_to_run_out_it_is_lost_and_anyone_may_take_it(holder: Holder) -> None:
    a, b, c = holder("a"), holder("b"), holder("c")
    await a.acquire()
    await asyncio.sleep(SECONDS * 1.3)
    assert not await a.renew(), "a lease that ran out is not renewed back"
    assert await b.acquire()
    assert not await a.renew()
    await a.release()  # a, back from a pause, lets go of what it no longer holds
    assert await b.renew(), "the new holder's lease is untouched"
    assert not await c.acquire()


async def test_releasing_hands_it_over_at_once(holder: Holder) -> None:
    a, b = holder("a"), holder("b")
    await a.acquire()
    await a.release()
    assert await b.acquire()
    assert not await a.renew()


async def test_an_unreachable_redis_is_a_dependency_unavailable() -> None:
    client = connect_redis(f"redis://127.0.0.1:{free_port()}/0")
    lease = RedisLeaderLease(client, key="scheduler", holder="a", seconds=SECONDS)
    try:
        for call in (lease.acquire, lease.renew, lease.release):
            with pytest.raises(DependencyUnavailable):
                await call()
    finally:
        await client.aclose(close_connection_pool=True)
