"""Which driver errors mean "a dependency is down or saturated", as opposed to a bug.

The HTTP layer answers these with 503 and `Retry-After`, the CLI with one line, the worker
and the scheduler by waiting and retrying. Everything else is a bug and stays a 500.
"""

from __future__ import annotations

import errno
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
import structlog
from redis import exceptions as redis_errors
from sqlalchemy import exc as sql_errors

from tessera.shared.domain.errors import DependencyUnavailable

logger = structlog.stdlib.get_logger("tessera.outages")

# Seconds a client should wait: a full pool frees up in moments, a restart takes longer.
SATURATED_RETRY_AFTER = 1
DOWN_RETRY_AFTER = 5

# PostgreSQL sqlstates (Appendix A of its manual): class 08 "connection exception", class 53
# "insufficient resources" (53300 too many connections), and the shutdown/startup codes.
_DOWN_CLASSES = ("08",)
_CLOSED = "connection is closed"
_SATURATED_CLASSES = ("53",)
_DOWN_STATES = frozenset({"57P01", "57P02", "57P03", "57P05"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)
REDIS_DOWN = (
    redis_errors.ConnectionError,  # includes full pools, LOADING, no Sentinel master
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica answering while a failover settles
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,  # a cluster slot whose node is gone
)
"""A cluster whose layout cannot be read is a `ClusterDownError` too (`LaidOutCluster`)."""


@dataclass(frozen=True, slots=True)
class Outage:
    """What is unavailable (`database`, `redis`, a module such as `storage`, or `service`
    when only the network error is known), why, and when to retry."""

    dependency: str
    reason: str
    retry_after: int = DOWN_RETRY_AFTER

    def describe(self) -> str:
        what = _NAMES.get(self.dependency, f"the {self.dependency}")
        return f"{what} is unavailable ({self.reason})"


_NAMES = {"redis": "Redis", "service": "a service it needs"}


def outage(error: BaseException) -> Outage | None:
    """The outage `error` (or an error it was raised from) reports, or None for a bug.

    A driver's error down the chain says more than the `DependencyUnavailable` an adapter
    raised from it, so it wins."""
    chain = list(_chain(error))
    for link in chain:
        found = _classify(link)
        if found is not None:
            return found
    for link in chain:
        if isinstance(link, DependencyUnavailable):
            module = str((link.details or {}).get("module", "service"))
            return Outage(module, link.message)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _classify(error: BaseException) -> Outage | None:  # noqa: PLR0911 - one rule per kind
    if isinstance(error, sql_errors.TimeoutError):
        return Outage("database", "no free connection in the pool", SATURATED_RETRY_AFTER)
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        reason = _first_line(getattr(error, "orig", None) or error)
        if sqlstate.startswith(_SATURATED_CLASSES):
            return Outage("database", reason, SATURATED_RETRY_AFTER)
        if sqlstate.startswith(_DOWN_CLASSES) or sqlstate in _DOWN_STATES:
            return Outage("database", reason)
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return Outage("database", "the connection was lost")
    if isinstance(error, sql_errors.OperationalError | sql_errors.InterfaceError):
        return Outage("database", _first_line(error.orig or error))
    if isinstance(error, asyncpg.InterfaceError) and _CLOSED in str(error):
        # The server ended a connection while SQLAlchemy set it up (its on-connect codec
        # setup): asyncpg's own error, not wrapped; other InterfaceErrors are misuse (bugs).
        return Outage("database", _first_line(error))
    if isinstance(error, REDIS_DOWN):
        # A full pool: a server's says so; a cluster node's raises its own class.
        saturated = isinstance(error, redis_errors.MaxConnectionsError) or (
            "No connection available" in str(error)
        )
        retry_after = SATURATED_RETRY_AFTER if saturated else DOWN_RETRY_AFTER
        return Outage("redis", _first_line(error) or type(error).__name__, retry_after)
    if isinstance(error, TimeoutError | ConnectionError | socket.gaierror):
        return Outage("service", _first_line(error) or type(error).__name__)
    if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
        return Outage("service", _first_line(error))
    return None


def _sqlstate(error: BaseException) -> str | None:
    """asyncpg's errors carry `sqlstate`; SQLAlchemy's wrappers carry the driver's in `orig`."""
    for candidate in (error, getattr(error, "orig", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    # SQLAlchemy prefixes the driver's class: "<class 'asyncpg...'>: too many connections"
    return line.rsplit(">: ", 1)[-1][:200]


class OutageLog:
    """One warning when a dependency goes down and one line when it is back, however many
    requests or attempts fail in between. A long outage is repeated every `repeat` seconds
    with the count of failures since the last line; a dependency that has not failed for
    `repeat` seconds counts as back even if nobody said so (the HTTP layer only sees failures).
    """

    def __init__(
        self, *, repeat: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repeat = repeat
        self._clock = clock
        self._down: dict[str, _Down] = {}

    def report(self, error: BaseException, **fields: object) -> Outage | None:
        """The outage `error` reports, recorded as `failed`; None (nothing recorded) when
        it is a bug, which the caller handles as such."""
        down = outage(error)
        if down is not None:
            self.failed(down, **fields)
        return down

    def failed(self, down: Outage, **fields: object) -> None:
        now = self._clock()
        state = self._down.get(down.dependency)
        if state is None or now - state.last_failure >= self._repeat:
            state = self._down[down.dependency] = _Down(since=now, last_line=now - self._repeat)
        state.last_failure = now
        state.failures += 1
        if now - state.last_line >= self._repeat:
            logger.warning(
                f"{down.describe()}; retrying",
                dependency=down.dependency,
                failures=state.failures,
                down_seconds=round(now - state.since, 1),
                **fields,
            )
            state.last_line, state.failures = now, 0

    def recovered(self, dependency: str) -> None:
        state = self._down.pop(dependency, None)
        if state is not None:
            seconds = round(self._clock() - state.since, 1)
            what = _NAMES.get(dependency, f"the {dependency}")
            logger.info(f"{what} is back", dependency=dependency, down_seconds=seconds)

    def is_down(self, dependency: str) -> bool:
        state = self._down.get(dependency)
        return state is not None and self._clock() - state.last_failure < self._repeat


@dataclass(slots=True)
class _Down:
    since: float
    last_line: float
    last_failure: float = 0.0
    failures: int = 0


OUTAGES = OutageLog()
"""This process's outage log (a process has one set of dependencies, like its logger)."""


class Backoff:
    """Capped exponential backoff with full jitter: attempt n waits up to first * 2**n."""

    def __init__(self, *, first: float = 0.2, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap, self._first * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading, not secrecy

    def reset(self) -> None:
        self._attempt = 0
