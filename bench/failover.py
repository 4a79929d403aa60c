"""A Sentinel failover under a steady `GET /users/me` load: how long do requests fail?

Tessera in production mode (`tessera serve --workers 1`) on a throwaway PostgreSQL database
and a Sentinel topology of the run's own (`tests.redis_topologies.SentinelRedis`: a primary,
a replica, three sentinels that hold a silent primary down after 1 s). `CLIENTS` clients in
this process send `GET /users/me` one after the other, cycling through signed-in users'
tokens; at `KILL_AT_S` the primary is killed (SIGKILL, as a crashed machine), the sentinels
promote the replica, and the load goes on to `LOAD_S`. Every answer is recorded with the
moment it came back.

Reported: when the sentinels named the new primary; the longest stretch of non-2xx answers
(from the first of a run of failures to the next 2xx); the longest time after the kill with
no 2xx answer at all (a request that hangs counts here, not there); the answers by kind.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import httpx
from tests.redis_topologies import DOWN_AFTER_MS, SentinelRedis, settings_of

from bench import identity, stores
from bench.core import Figure, Options, Row
from bench.servers import Server, serving, tessera
from tessera.main import migrations

NAME = "failover"
TITLE = "Redis Sentinel failover under GET /users/me: the longest stretch of failed requests"

CLIENTS = 8
KILL_AT_S = 5.0
LOAD_S = 30.0
TIMEOUT_S = 10.0
"""A request that takes longer is recorded as `timeout`."""
USERS = 20

NOTES = (
    f"{CLIENTS} clients (httpx, keep-alive) send `GET /users/me` back to back for {LOAD_S:g} s; "
    f"the primary is killed at {KILL_AT_S:g} s. The sentinels hold a silent primary down "
    f"after {DOWN_AFTER_MS} ms (production often uses 5-30 s: the stretch grows with it).",
    "Non-2xx stretch: from the first failed answer of a run of failures to the next 2xx. "
    "No-2xx stretch: the longest time after the kill between two 2xx answers, hanging "
    "requests included. During the failover Tessera should answer 503 or succeed: a 500 or "
    "a timeout is a defect.",
)


@dataclass(frozen=True)
class Answer:
    at: float
    """Seconds since the kill when the answer came back (negative: before it)."""
    kind: str
    """`2xx`, the status code, or what went wrong (`timeout`, `ConnectError`, ...)."""

    @property
    def ok(self) -> bool:
        return self.kind == "2xx"


def longest_failure(answers: Sequence[Answer], end: float) -> float:
    """The longest run of failed answers, from its first to the next 2xx (or `end`)."""
    longest, first_failure = 0.0, None
    for answer in sorted(answers, key=lambda a: a.at):
        if not answer.ok and first_failure is None:
            first_failure = answer.at
        elif answer.ok and first_failure is not None:
            longest, first_failure = max(longest, answer.at - first_failure), None
    if first_failure is not None:
        longest = max(longest, end - first_failure)
    return longest


def longest_without_success(answers: Sequence[Answer], since: float, end: float) -> float:
    """The longest time from `since` to `end` between consecutive 2xx answers."""
    moments = sorted(a.at for a in answers if a.ok and since <= a.at <= end)
    edges = [since, *moments, end]
    return max(later - earlier for earlier, later in pairwise(edges))


def setup(_opts: Options) -> str:
    return (
        f"{CLIENTS} clients, {LOAD_S:g} s, primary killed at {KILL_AT_S:g} s; "
        f"`tessera serve --workers 1` on Sentinel (1 primary, 1 replica, 3 sentinels)."
    )


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


async def run(_opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    users = [
        identity.User(f"fo{n}@example.com", f"fo-{secrets.token_hex(8)}") for n in range(USERS)
    ]
    async with _deployment() as (server, sentinel):
        tokens = await identity.enrol(server.base_url, users)
        answers, promoted = await _load_and_kill(server, sentinel, tokens)
    return [_row(answers, promoted)]


async def _load_and_kill(
    server: Server, sentinel: SentinelRedis, tokens: Sequence[str]
) -> tuple[list[Answer], float]:
    answers: list[Answer] = []
    kill_at = time.monotonic() + KILL_AT_S
    stop_at = kill_at - KILL_AT_S + LOAD_S

    async def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT_S) as http:
            while time.monotonic() < stop_at:
                kind = await _get(http, headers)
                answers.append(Answer(time.monotonic(), kind))

    async def kill() -> float:
        await asyncio.sleep(kill_at - time.monotonic())
        _say("killing the primary")
        await asyncio.to_thread(sentinel.kill_primary)
        await asyncio.to_thread(sentinel.wait_for_failover)
        promoted = time.monotonic() - kill_at
        _say(f"the sentinels named the replica after {promoted:.1f} s")
        return promoted

    async with asyncio.TaskGroup() as group:
        for number in range(CLIENTS):
            group.create_task(client(number))
        promoted = group.create_task(kill())
    return [Answer(a.at - kill_at, a.kind) for a in answers], promoted.result()


async def _get(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    try:
        response = await http.get(identity.ME, headers=headers)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError as error:
        return type(error).__name__
    return "2xx" if response.is_success else str(response.status_code)


def _row(answers: Sequence[Answer], promoted: float) -> Row:
    end = LOAD_S - KILL_AT_S
    kinds = Counter(answer.kind for answer in answers if answer.at >= 0)
    failed = {kind: n for kind, n in kinds.items() if kind != "2xx"}
    figures: dict[str, Figure] = {
        "promoted_after_s": promoted,
        "non_2xx_stretch_s": longest_failure([a for a in answers if a.at >= 0], end),
        "no_2xx_stretch_s": longest_without_success(answers, 0.0, end),
        "2xx_after_kill": kinds["2xx"],
        "failed_after_kill": sum(failed.values()),
        "failures": ", ".join(f"{kind} x{n}" for kind, n in sorted(failed.items())) or "none",
        "failures_before_kill": sum(1 for a in answers if a.at < 0 and not a.ok),
    }
    return Row(f"GET /users/me, c={CLIENTS}, primary killed", figures)


@asynccontextmanager
async def _deployment() -> AsyncIterator[tuple[Server, SentinelRedis]]:
    async with AsyncExitStack() as stack:
        _say("creating and migrating a PostgreSQL database; starting Sentinel")
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        sentinel = SentinelRedis()
        stack.callback(sentinel.stop)
        await asyncio.to_thread(sentinel.start)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fo-")))
        redis_env = {name.upper(): value for name, value in settings_of(sentinel.topology).items()}
        env = redis_env | {
            "ENVIRONMENT": "development",
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": secrets.token_urlsafe(30),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(scratch / "data"),
            "RATE_LIMIT_AUTH_PER_MINUTE": identity.RAISED_LIMIT,
            "RATE_LIMIT_API_PER_MINUTE": identity.RAISED_LIMIT,
        }
        _say("tessera: starting on Sentinel")
        server = await stack.enter_async_context(serving(tessera(env=env, cwd=scratch, workers=1)))
        yield server, sentinel
