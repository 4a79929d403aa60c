"""`MfaTickets`: in Redis (`mfa:ticket:<hash>`, a JSON value with the ticket's time to live;
`take` is one `GETDEL`, atomic across processes), or in memory for the embedded mode."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import msgspec

from tessera.features.identity.application.ports import MfaTicket
from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.adapters.redis_cache import translate_redis_errors


class _Stored(msgspec.Struct, frozen=True, array_like=True):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str


def _encode(ticket: MfaTicket) -> bytes:
    return msgspec.json.encode(_Stored(ticket.user_id, ticket.tenant_id, ticket.email))


def _decode(raw: bytes | str | None) -> MfaTicket | None:
    if raw is None:
        return None
    stored = msgspec.json.decode(raw, type=_Stored)
    return MfaTicket(stored.user_id, stored.tenant_id, stored.email)


class RedisMfaTickets:
    """Complete `MfaTickets` shared by every process; Redis errors raise
    `DependencyUnavailable`."""

    def __init__(self, batcher: CommandBatcher, *, prefix: str = "") -> None:
        self._redis = batcher
        self._prefix = prefix

    async def put(self, ticket_hash: str, ticket: MfaTicket, *, ttl_seconds: float) -> None:
        ttl_ms = max(int(ttl_seconds * 1000), 1)
        async with translate_redis_errors():
            await self._redis.execute("SET", self._key(ticket_hash), _encode(ticket), "PX", ttl_ms)

    async def peek(self, ticket_hash: str) -> MfaTicket | None:
        async with translate_redis_errors():
            return _decode(await self._redis.execute("GET", self._key(ticket_hash)))

    async def take(self, ticket_hash: str) -> MfaTicket | None:
        async with translate_redis_errors():
            return _decode(await self._redis.execute("GETDEL", self._key(ticket_hash)))

    def _key(self, ticket_hash: str) -> str:
        return f"{self._prefix}mfa:ticket:{ticket_hash}"


class InMemoryMfaTickets:
    """Complete `MfaTickets` for one process: no await inside an operation, so each is
    atomic on the event loop. A ticket expires when `clock` (seconds) reaches its end;
    expired tickets are dropped when met and swept every 256 `put`s."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[MfaTicket, float]] = {}
        self._puts = 0

    async def put(self, ticket_hash: str, ticket: MfaTicket, *, ttl_seconds: float) -> None:
        now = self._clock()
        self._puts += 1
        if self._puts % 256 == 0:
            for key, (_, ends) in list(self._tickets.items()):
                if ends <= now:
                    del self._tickets[key]
        self._tickets[ticket_hash] = (ticket, now + ttl_seconds)

    async def peek(self, ticket_hash: str) -> MfaTicket | None:
        found = self._tickets.get(ticket_hash)
        if found is None:
            return None
        if found[1] <= self._clock():
            del self._tickets[ticket_hash]
            return None
        return found[0]

    async def take(self, ticket_hash: str) -> MfaTicket | None:
        ticket = await self.peek(ticket_hash)
        self._tickets.pop(ticket_hash, None)
        return ticket
