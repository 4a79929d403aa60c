"""Which errors are outages, and how an outage is logged: once, not once per failure."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
import structlog
from sqlalchemy import exc as sql_errors
from structlog.testing import capture_logs

from tessera.shared.adapters import outages
from tessera.shared.adapters.database import create_engine
from tessera.shared.adapters.outages import Backoff, Outage, OutageLog, outage
from tessera.shared.domain.errors import DependencyUnavailable


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test logs through a fresh `tessera.outages` logger, so what it captures does not
    depend on what earlier tests in this process did with structlog's configuration (a
    logger cached on first use escapes `capture_logs`; the whole suite once lost these
    lines that way)."""
    monkeypatch.setattr(outages, "logger", structlog.stdlib.get_logger("tessera.outages"))


def raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise error from inner
    except BaseException as outer:
        return outer


def test_an_outage_is_found_down_the_chain_of_causes() -> None:
    wrapped = raised_from(RuntimeError("use case failed"), asyncpg.TooManyConnectionsError("x"))
    found = outage(wrapped)
    assert found == Outage("database", "x", retry_after=1)
    assert outage(raised_from(RuntimeError("a"), ValueError("b"))) is None


def test_sqlalchemy_carries_the_drivers_sqlstate() -> None:
    lost = sql_errors.DBAPIError("SELECT 1", {}, asyncpg.ConnectionFailureError("gone"))
    assert outage(lost) == Outage("database", "gone")  # class 08
    shutdown = sql_errors.DBAPIError("SELECT 1", {}, asyncpg.CannotConnectNowError("starting"))
    assert outage(shutdown) == Outage("database", "starting")  # 57P03
    assert outage(sql_errors.DBAPIError("SELECT 1", {}, asyncpg.DivisionByZeroError("0"))) is None


def test_a_connection_closed_while_it_was_set_up_is_the_database_down() -> None:
    """asyncpg's own error, unwrapped: the server ended the connection during SQLAlchemy's
    on-connect setup. Other interface errors are misuse, and stay bugs."""
    closed = asyncpg.InterfaceError("connection is closed")
    assert outage(closed) == Outage("database", "connection is closed")
    busy = asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
    assert outage(busy) is None


def test_redis_pool_exhaustion_is_saturation_and_a_lost_connection_is_down() -> None:
    pool = outage(redis.exceptions.ConnectionError("No connection available."))
    assert pool == Outage("redis", "No connection available.", retry_after=1)
    lost = outage(redis.exceptions.ConnectionError("Connection closed by server."))
    assert lost == Outage("redis", "Connection closed by server.", retry_after=5)
    # A cluster node's full pool says nothing, its class says it all.
    node_pool = outage(redis.exceptions.MaxConnectionsError())
    assert node_pool == Outage("redis", "MaxConnectionsError", retry_after=1)


def test_a_dependency_unavailable_names_its_module() -> None:
    error = DependencyUnavailable("Storage is unavailable.", details={"module": "storage"})
    found = outage(error)
    assert found is not None
    assert found.describe() == "the storage is unavailable (Storage is unavailable.)"
    refused = outage(ConnectionRefusedError(111, "Connect call failed ('10.0.0.9', 5432)"))
    assert refused is not None
    assert refused.describe().startswith("a service it needs is unavailable (")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_one_line_down_and_one_line_back() -> None:
    clock = Clock()
    log = OutageLog(repeat=60, clock=clock)
    down = Outage("database", "too many connections", retry_after=1)
    with capture_logs() as lines:
        for _ in range(100):
            log.failed(down)
            clock.now += 0.1
        assert log.is_down("database")
        log.recovered("database")
        log.recovered("database")  # already back: nothing more to say
    assert [line["event"] for line in lines] == [
        "the database is unavailable (too many connections); retrying",
        "the database is back",
    ]
    assert lines[1]["down_seconds"] == 10.0
    assert not log.is_down("database")


def test_a_long_outage_is_repeated_with_the_failures_in_between() -> None:
    clock = Clock()
    log = OutageLog(repeat=60, clock=clock)
    down = Outage("cache", "Connection refused")
    with capture_logs() as lines:
        for _ in range(130):
            log.failed(down)
            clock.now += 1
    assert [line["failures"] for line in lines] == [1, 60, 60]
    assert [line["down_seconds"] for line in lines] == [0.0, 60.0, 120.0]


def test_failures_far_apart_are_separate_outages() -> None:
    clock = Clock()
    log = OutageLog(repeat=60, clock=clock)
    with capture_logs() as lines:
        log.failed(Outage("cache", "a"))
        clock.now += 61
        assert not log.is_down("cache")
        log.failed(Outage("cache", "b"))
    assert [line["down_seconds"] for line in lines] == [0.0, 0.0]


@pytest.mark.parametrize("cap", [1.0, 5.0])
def test_backoff_doubles_up_to_its_cap_with_jitter(cap: float) -> None:
    backoff = Backoff(first=0.1, cap=cap)
    delays = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(cap, 0.1 * 2**n) for n in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_the_drivers_error_says_more_than_the_adapters() -> None:
    refused = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390.")
    error = raised_from(DependencyUnavailable("The task queue is unavailable."), refused)
    assert outage(error) == Outage("redis", "Error 111 connecting to 127.0.0.1:6390.")


async def test_a_connection_left_mid_operation_while_it_was_set_up_is_the_database_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server session killed during SQLAlchemy's first queries on a new connection can
    leave asyncpg's protocol mid-operation, and SQLAlchemy's rollback after them then fails
    with "another operation is in progress", in the dialect's wrapper: it is a lost
    connection (an outage), not a bug. Raised here by the driver's connect, under the
    engine's own connect path and listeners."""
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    dbapi = engine.sync_engine.dialect.loaded_dbapi
    busy = "cannot switch to state 15; another operation (2) is in progress"

    def left_mid_operation(*_: object, **__: object) -> None:
        raise dbapi.InternalError(busy) from asyncpg.InternalClientError(busy)

    monkeypatch.setattr(engine.sync_engine.dialect, "connect", left_mid_operation)
    try:
        with pytest.raises(sql_errors.DBAPIError) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()

    assert raised.value.connection_invalidated
    assert outage(raised.value) == Outage("database", "the connection was lost")
    other = raised_from(dbapi.InternalError("x"), asyncpg.InternalClientError("bad state"))
    assert outage(sql_errors.DBAPIError("SELECT 1", {}, other)) is None
