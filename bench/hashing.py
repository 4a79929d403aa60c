"""Sign-in under contention, for each CPU priority the hashing threads can run at.

For each of `PASSWORD_HASH_PRIORITY=hedged|idle|low|normal`, Tessera in production mode (one server
process, PostgreSQL, Redis) is measured:

1. quiet: logins alone, the rate everything else is a share of;
2. saturated by other requests: `GET /users/me` on 16 connections alone, then again while
   logins run beside it;
3. beside CPU-bound work in the same CPU group: as many busy-looping processes as cores,
   started in the server's own session (Linux autogroups CPU time by session, so these
   compete with the server as a neighbour of the same group does), then `GET /users/me` on
   2 connections alone, and again while logins run.

And the floor (bare Litestar), in the same run, for the machine's own share of the blame:
`GET /health` on the same connections alone and beside a process verifying the same hash in
a loop with Tessera's hasher at the same priority (1 and 3: with the busy loops too). The
floor's p99 ratio is what the machine does to any light server beside that load; Tessera's
should be no worse.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import stores
from bench.core import Figure, Options, Row
from bench.identity import (
    LOGIN_CONCURRENCY,
    ME,
    RAISED_LIMIT,
    User,
    _login_request,
    _spec,
    enrol,
)
from bench.load import LoadResult, LoadSpec, Request, bearer, run_load
from bench.servers import REPO_ROOT, Server, ServerSpec, floor, serving, tessera
from tessera.main import migrations

NAME = "hashing"
TITLE = "Sign-in under contention: the argon2 threads at each CPU priority"

PRIORITIES = ("hedged", "idle", "low", "normal")
USERS = 20
BUSY = 16
"""`/users/me` connections that keep the server saturated."""
LIGHT = 2
"""`/users/me` connections beside the busy loops: the server mostly waits."""
LEAD_S = 1.0
TAIL_S = 1.0

NEIGHBOURS = """
import asyncio, os, subprocess, sys, time
folder, cores, priority, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
spin = (
    "import os, sys, time\\n"
    "flag = sys.argv[1]\\n"
    "while True:\\n"
    "    if os.path.exists(flag):\\n"
    "        end = time.perf_counter() + 0.05\\n"
    "        while time.perf_counter() < end: pass\\n"
    "    else: time.sleep(0.05)\\n"
)
hash_loop = (
    "import asyncio, os, sys\\n"
    "from tessera.features.identity.adapters.argon2_hasher import Argon2PasswordHasher\\n"
    "async def main():\\n"
    "    hasher = Argon2PasswordHasher(priority=sys.argv[2])\\n"
    "    stored = await hasher.hash('password')\\n"
    "    while True:\\n"
    "        if os.path.exists(sys.argv[1]): await hasher.verify(stored, 'password')\\n"
    "        else: await asyncio.sleep(0.05)\\n"
    "asyncio.run(main())\\n"
)
for _ in range(cores):
    subprocess.Popen([sys.executable, "-c", spin, os.path.join(folder, "spin")])
subprocess.Popen([sys.executable, "-c", hash_loop, os.path.join(folder, "hash"), priority])
os.execvp(argv[0], argv)
"""
"""Run before a server, in its session: busy loops and a hash loop, each working only while
its flag file exists, then the server itself (`exec`), so all of them share its autogroup
and its process group (stopped with it)."""

NOTES = (
    "Priorities: `idle` is the idle scheduling class (CFS weight 3, runs only on a core no "
    "normal thread wants), `low` the normal class at niceness 5 (weight 335), `normal` "
    "niceness 0 (weight 1024, like the event loop); `hedged`, the default, starts each "
    "hash in the idle class and, when it has not finished within 4x the fastest hash seen, "
    "the same hash again at niceness 5 (the first to finish answers; after a hedge wins, "
    "hashes are hedged at once until an idle copy finishes again). Logins verify "
    f"argon2id (t=3, m=64 MiB, p=4), at most {max(1, (os.cpu_count() or 2) - 1)} at a time "
    "per process.",
    "Logins/s rows give the rate and its share of the quiet rate; the issue's target is a "
    "quarter or more in both contended cases. Ratio rows compare p99 with logins to p99 "
    "without, for Tessera's `/users/me` and for the floor beside the same load; Tessera's "
    "should be no higher than the floor's. Client, server and neighbours share the machine's "
    f"{os.cpu_count()} cores; figures only, nothing is checked.",
)


@dataclass(frozen=True)
class _Pair:
    calm: LoadResult
    loaded: LoadResult


@dataclass(frozen=True)
class _Outcome:
    priority: str
    quiet: LoadResult
    saturated: _Pair
    saturated_logins: LoadResult
    beside: _Pair
    beside_logins: LoadResult
    floor_busy: _Pair
    floor_beside: _Pair


def setup(opts: Options) -> str:
    return (
        f"Closed loop, {opts.warmup:g} s warm-up then {opts.duration:g} s measured per case; "
        f"logins on {LOGIN_CONCURRENCY} connections; `/users/me` on {BUSY} (saturated) and "
        f"{LIGHT} (beside {os.cpu_count()} busy loops) connections; {USERS} users; "
        f"`tessera serve --workers 1`; priorities {', '.join(PRIORITIES)}."
    )


async def run(opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    outcomes = [await _measure(priority, opts) for priority in PRIORITIES]
    return [row for outcome in outcomes for row in _rows(outcome)]


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


async def _measure(priority: str, opts: Options) -> _Outcome:
    users = [User(f"hash{n}@example.com", f"bench-{secrets.token_hex(8)}") for n in range(USERS)]
    async with _tessera_beside_neighbours(priority) as (server, flags):
        tokens = await enrol(server.base_url, users)
        me = [Request(ME, headers=bearer(token)) for token in tokens]
        logins = [_login_request(user) for user in users]
        _say(f"{priority}: logins, quiet")
        quiet = await run_load(_spec(server, logins, LOGIN_CONCURRENCY, opts))
        _say(f"{priority}: /users/me c={BUSY}, alone and with logins")
        busy_calm = await run_load(_spec(server, me, BUSY, opts))
        busy, busy_logins = await _with_logins(server, _spec(server, me, BUSY, opts), logins, opts)
        _say(f"{priority}: beside busy loops, /users/me c={LIGHT}, alone and with logins")
        with _flag(flags / "spin"):
            await asyncio.sleep(LEAD_S)
            light_calm = await run_load(_spec(server, me, LIGHT, opts))
            light_spec = _spec(server, me, LIGHT, opts)
            light, light_logins = await _with_logins(server, light_spec, logins, opts)
    async with _floor_beside_neighbours(priority) as (floor_server, flags):
        health = [Request("/health")]
        _say(f"{priority}: floor c={BUSY}, alone and beside the hash loop")
        floor_busy = await _floor_pair(floor_server, health, BUSY, flags, opts)
        _say(f"{priority}: floor c={LIGHT} beside busy loops, alone and beside the hash loop")
        with _flag(flags / "spin"):
            await asyncio.sleep(LEAD_S)
            floor_light = await _floor_pair(floor_server, health, LIGHT, flags, opts)
    return _Outcome(
        priority,
        quiet,
        _Pair(busy_calm, busy),
        busy_logins,
        _Pair(light_calm, light),
        light_logins,
        floor_busy,
        floor_light,
    )


async def _with_logins(
    server: Server, me_spec: LoadSpec, logins: Sequence[Request], opts: Options
) -> tuple[LoadResult, LoadResult]:
    """`me_spec`'s load while logins run from a second loader, started first, stopped after."""
    storm_s = LEAD_S + opts.warmup + opts.duration + TAIL_S
    login_spec = _spec(server, logins, LOGIN_CONCURRENCY, opts, warmup=0.0, duration=storm_s)
    async with asyncio.TaskGroup() as group:
        storm = group.create_task(run_load(login_spec))
        await asyncio.sleep(LEAD_S)
        me = await run_load(me_spec)
    return me, storm.result()


async def _floor_pair(
    server: Server, health: Sequence[Request], concurrency: int, flags: Path, opts: Options
) -> _Pair:
    calm = await run_load(_spec(server, health, concurrency, opts))
    with _flag(flags / "hash"):
        await asyncio.sleep(LEAD_S)
        loaded = await run_load(_spec(server, health, concurrency, opts))
    return _Pair(calm, loaded)


class _flag:
    """The file exists inside the block: the neighbours watching it work."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __enter__(self) -> None:
        self._path.touch()

    def __exit__(self, *_: object) -> None:
        self._path.unlink(missing_ok=True)


def _beside(spec: ServerSpec, priority: str, flags: Path) -> ServerSpec:
    """`spec`, started after its neighbours, in their session."""
    cores = str(os.cpu_count() or 2)

    def argv(port: int) -> list[str]:
        return [sys.executable, "-c", NEIGHBOURS, str(flags), cores, priority, *spec.argv(port)]

    env = spec.env | {"PYTHONPATH": str(REPO_ROOT / "src")}
    return ServerSpec(spec.name, argv, env=env, cwd=spec.cwd, ready_path=spec.ready_path)


@asynccontextmanager
async def _tessera_beside_neighbours(priority: str) -> AsyncIterator[tuple[Server, Path]]:
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hash-")))
        flags = scratch / "flags"
        flags.mkdir()
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": stores.REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET_KEY": secrets.token_urlsafe(30),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(scratch / "data"),
            "PASSWORD_HASH_PRIORITY": priority,
            "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
            "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        }
        _say(f"{priority}: tessera starting")
        spec = _beside(tessera(env=env, cwd=scratch, workers=1), priority, flags)
        yield await stack.enter_async_context(serving(spec)), flags


@asynccontextmanager
async def _floor_beside_neighbours(priority: str) -> AsyncIterator[tuple[Server, Path]]:
    with tempfile.TemporaryDirectory(prefix="bench-hash-floor-") as scratch:
        flags = Path(scratch)
        async with serving(_beside(floor(), priority, flags)) as server:
            yield server, flags


def _rows(outcome: _Outcome) -> list[Row]:
    p, quiet = outcome.priority, outcome.quiet.rps
    return [
        Row(f"{p}: logins/s, quiet", {"rps": quiet, "p99_ms": outcome.quiet.p99_ms}),
        Row(f"{p}: logins/s, server saturated", _share(outcome.saturated_logins, quiet)),
        Row(f"{p}: logins/s, beside busy loops", _share(outcome.beside_logins, quiet)),
        Row(f"{p}: /users/me c={BUSY}, alone", _figures(outcome.saturated.calm)),
        Row(f"{p}: /users/me c={BUSY}, with logins", _figures(outcome.saturated.loaded)),
        Row(f"{p}: /users/me c={LIGHT} beside busy loops", _figures(outcome.beside.calm)),
        Row(f"{p}: ... with logins", _figures(outcome.beside.loaded)),
        Row(f"{p}: p99 with / without logins, c={BUSY}", _ratios(outcome.saturated), ratio=True),
        Row(f"{p}: floor, beside a hash loop, c={BUSY}", _ratios(outcome.floor_busy), ratio=True),
        Row(
            f"{p}: p99 with / without logins, busy loops, c={LIGHT}",
            _ratios(outcome.beside),
            ratio=True,
        ),
        Row(
            f"{p}: floor, beside a hash loop, busy loops, c={LIGHT}",
            _ratios(outcome.floor_beside),
            ratio=True,
        ),
    ]


def _share(result: LoadResult, quiet: float | None) -> dict[str, Figure]:
    share = None if result.rps is None or not quiet else result.rps / quiet
    return {"rps": result.rps, "share_of_quiet": share, "p99_ms": result.p99_ms}


def _figures(result: LoadResult) -> dict[str, Figure]:
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def _ratios(pair: _Pair) -> dict[str, Figure]:
    def quotient(top: float | None, bottom: float | None) -> float | None:
        return None if top is None or not bottom else top / bottom

    return {
        "rps": quotient(pair.loaded.rps, pair.calm.rps),
        "p99_ms": quotient(pair.loaded.p99_ms, pair.calm.p99_ms),
    }
