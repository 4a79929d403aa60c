"""The `MfaTickets` contract, against the in-memory adapter and real Redis (one server, a
Sentinel's primary, a Cluster): a ticket reads back until it expires or is taken, and of
two concurrent takes exactly one gets it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from tessera.features.identity.adapters.mfa_tickets import InMemoryMfaTickets, RedisMfaTickets
from tessera.features.identity.application.ports import MfaTicket, MfaTickets
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_client import connect_redis
from tests.redis_topologies import MODES, redis_for


@pytest.fixture(params=["memory", *MODES])
async def tickets(request: pytest.FixtureRequest) -> AsyncIterator[MfaTickets]:
    if request.param == "memory":
        yield InMemoryMfaTickets(clock=time.monotonic)
        return
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology)
        yield RedisMfaTickets(batcher_for(client), prefix=prefix)
        await client.aclose()


def a_ticket() -> MfaTicket:
    return MfaTicket(uuid.uuid4(), uuid.uuid4(), "ada@example.com")


async def test_a_ticket_reads_back_until_taken_and_is_taken_once(tickets: MfaTickets) -> None:
    ticket = a_ticket()
    await tickets.put("h1", ticket, ttl_seconds=60)
    assert await tickets.peek("h1") == ticket
    assert await tickets.peek("h1") == ticket, "peeking leaves it in place"
    assert await tickets.take("h1") == ticket
    assert await tickets.take("h1") is None
    assert await tickets.peek("h1") is None


async def test_an_unknown_ticket_is_none(tickets: MfaTickets) -> None:
    assert await tickets.peek("never") is None
    assert await tickets.take("never") is None


async def test_a_ticket_expires(tickets: MfaTickets) -> None:
    await tickets.put("h2", a_ticket(), ttl_seconds=0.3)
    await tickets.put("h3", a_ticket(), ttl_seconds=60)
    await asyncio.sleep(0.45)
    assert await tickets.peek("h2") is None
    assert await tickets.take("h2") is None
    assert await tickets.peek("h3") is not None


async def test_of_concurrent_takes_exactly_one_gets_the_ticket(tickets: MfaTickets) -> None:
    ticket = a_ticket()
    await tickets.put("h4", ticket, ttl_seconds=60)
    taken = await asyncio.gather(*(tickets.take("h4") for _ in range(10)))
    assert [t for t in taken if t is not None] == [ticket]
