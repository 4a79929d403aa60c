"""Ports every feature uses: time, transactions and the key-value cache."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from tessera.shared.domain.events import Event


class Clock(Protocol):
    """The current time; injected so rules about expiry can be tested without sleeping."""

    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class UnitOfWork(Protocol):
    """The transaction a use case works in.

    Repositories of one request share it. Nothing is written until `commit`; a use case that
    returns or raises without committing leaves no trace. Events written to the outbox commit
    or roll back with the change that caused them.
    """

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Outbox(Protocol):
    """Records events in the caller's unit of work.

    An event recorded here is handed to the task queue only if that unit of work commits,
    and then at least once, even if the queue is down at the time (a sweep retries).
    """

    def record(self, event: Event) -> None: ...


class OutboxListener(Protocol):
    """Told, after a commit, which events it wrote, to hand them to the queue at once.

    Must return immediately and never raise: the request that committed has succeeded
    whatever happens next, and the sweep catches anything this misses.
    """

    def committed(self, event_ids: Sequence[uuid.UUID]) -> None: ...


class Counter(msgspec.Struct, frozen=True):
    """A windowed counter's value after an increment, and seconds until the window resets."""

    value: int
    resets_in: float


class Cache(Protocol):
    """Shared key-value store with expiry (Redis in production, memory when embedded).

    Keys are plain strings (`cache:user:<id>`, `ratelimit:auth:<ip>`); adapters may add a
    deployment prefix. Every method raises `DependencyUnavailable` when the store is down.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        """Store `value`, replacing any previous one; it disappears after `ttl_seconds`."""
        ...

    async def delete(self, *keys: str) -> int:
        """Remove the keys; returns how many existed. Deleting a missing key is not an error."""
        ...

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        """Atomically add `amount`; the first increment of a window starts its expiry.

        Concurrent callers, in any number of processes, each see a distinct value, so exactly
        `limit` of them can observe a value <= `limit`. Later increments do not extend the
        window.
        """
        ...

    async def ping(self) -> None:
        """Return when the store answers, raise `DependencyUnavailable` when it does not."""
        ...
