"""What Redis and PostgreSQL say they did, read around a measured window.

Redis counts its own commands (`INFO commandstats`) and CPU (`INFO cpu`); PostgreSQL its
statements (`pg_stat_statements`, when the server preloads it) and transactions
(`pg_stat_database`). A benchmark reads them before and after a window and divides the
difference by the requests wrk completed in it: a count per request that does not depend on
how busy the machine was. The parsers are pure, so they are unit-tested on real output.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

OWN_COMMANDS = frozenset({"info"})
"""Sent by the reading itself, not by the server under test."""
_TRANSACTION_CONTROL = r"^\s*(BEGIN|COMMIT|ROLLBACK|START|SAVEPOINT|RELEASE)\b"
Stats = Mapping[str, Mapping[str, object]]
"""redis-py's `info("commandstats")`: `{"cmdstat_get": {"calls": 3, ...}, ...}`."""


# Redis


@dataclass(frozen=True)
class RedisCount:
    calls: Mapping[str, int]
    """Calls per command name (`get`, `evalsha`, `client|setname`)."""
    cpu_s: float

    @property
    def commands(self) -> int:
        return sum(self.calls.values())

    def __sub__(self, other: RedisCount) -> RedisCount:
        names = set(self.calls) | set(other.calls)
        calls = {name: self.calls.get(name, 0) - other.calls.get(name, 0) for name in names}
        return RedisCount({name: n for name, n in calls.items() if n}, self.cpu_s - other.cpu_s)

    def __add__(self, other: RedisCount) -> RedisCount:
        calls = Counter(self.calls)
        calls.update(other.calls)
        return RedisCount(dict(calls), self.cpu_s + other.cpu_s)

    def mix(self, requests: int) -> str:
        """Calls per request by command, the most called first: `evalsha 2.00, get 1.00`."""
        ordered = sorted(self.calls.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{name} {n / requests:.2f}" for name, n in ordered)


def calls_in(commandstats: Stats) -> dict[str, int]:
    """Calls per command of redis-py's `info("commandstats")` (`cmdstat_get: {calls: ..}`;
    subcommands as `cmdstat_client|setname`), the reader's own `INFO` left out."""
    calls = {
        key.removeprefix("cmdstat_"): int(str(stats["calls"]))
        for key, stats in commandstats.items()
    }
    return {name: n for name, n in calls.items() if name not in OWN_COMMANDS}


def redis_count(nodes: Iterable[tuple[Stats, Mapping[str, object]]]) -> RedisCount:
    """Calls and CPU seconds (user + system, main thread and I/O threads) summed over the
    nodes, given each node's `info("commandstats")` and `info("cpu")`."""
    total = RedisCount({}, 0.0)
    for commandstats, cpu_info in nodes:
        cpu = float(str(cpu_info["used_cpu_user"])) + float(str(cpu_info["used_cpu_sys"]))
        total += RedisCount(calls_in(commandstats), cpu)
    return total


def parse_redis_benchmark(output: str) -> dict[str, float]:
    """Requests/s per test of `redis-benchmark --csv`: a header row, then `"SET","98039.22",..`."""
    rates: dict[str, float] = {}
    for row in csv.reader(output.splitlines()):
        if len(row) >= 2 and row[1] != "rps":
            try:
                rates[row[0]] = float(row[1])
            except ValueError:
                continue
    if not rates:
        raise RuntimeError(f"unexpected redis-benchmark output:\n{output}")
    return rates


# PostgreSQL


@dataclass(frozen=True)
class PostgresCount:
    statements: int | None
    """Statements other than transaction control; None without pg_stat_statements."""
    exec_ms: float | None
    """Their execution time inside the server."""
    transactions: int
    held_ms: float
    """Time connections spent in a transaction, running or waiting for the client: what a
    transaction-pooling PgBouncer keeps a server connection for."""

    def __sub__(self, other: PostgresCount) -> PostgresCount:
        def minus(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a - b

        statements = minus(self.statements, other.statements)
        return PostgresCount(
            None if statements is None else int(statements),
            minus(self.exec_ms, other.exec_ms),
            self.transactions - other.transactions,
            self.held_ms - other.held_ms,
        )


async def postgres_count(connection: AsyncConnection, database: str) -> PostgresCount:
    """The counters of `database`, read over `connection` to another database (so the reading
    does not count). PostgreSQL publishes a backend's figures at most once a second: wait
    that long after a window before reading."""
    xacts = await connection.execute(
        text(
            "SELECT xact_commit + xact_rollback, active_time + idle_in_transaction_time"
            " FROM pg_stat_database WHERE datname = :database"
        ),
        {"database": database},
    )
    transactions, held_ms = xacts.one()
    statements: int | None = None
    exec_ms: float | None = None
    if await _has_pg_stat_statements(connection):
        row = await connection.execute(
            text(
                "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0)"
                " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = :database AND s.query !~* :control"
            ),
            {"database": database, "control": _TRANSACTION_CONTROL},
        )
        calls, exec_time = row.one()
        statements, exec_ms = int(calls), float(exec_time)
    return PostgresCount(statements, exec_ms, int(transactions), float(held_ms))


async def _has_pg_stat_statements(connection: AsyncConnection) -> bool:
    found = await connection.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    )
    return found.first() is not None
