"""`GET /api/v1/users/me` and logins in production mode, against the floor.

Production mode on this machine: a throwaway PostgreSQL database (migrated), a
`redis-server` of the run's own, and `tessera serve --workers 1` (one worker process, like the
floor) with `ENVIRONMENT=development`, so no production keys are needed but every store is
shared: sessions, the profile cache and the rate-limit counters live in Redis. Rate limits
stay on, raised through configuration so the load is not refused.

Users are registered and logged in once through the API before measuring; then, one case
after the other, never two at once (except the storm, which is the point):

1. the floor (bare Litestar under granian) answering `GET /health` and Tessera answering
   `GET /api/v1/users/me` (the request mix cycling through the tokens) on one Redis server,
   in turn, `ROUNDS` rounds: the machine's speed drifts over a run, and alternating puts
   both under the same drift; the round with the median ratio is reported, its ratio the
   headline;
2. Tessera's `/users/me` on the other Redis topologies (`MODES`): Sentinel (a primary, a
   replica, three sentinels) and a three-primary Cluster, each started for its case alone,
   with a server, database and users of its own, each against the same floor; on one
   server, the floor with one Redis round trip (`bench.floor_session_app`: the rate-limit
   count and the cached profile Tessera filled, through redis-py) follows step 1, for the
   same tokens on that Redis;
3. login throughput: `POST /api/v1/auth/login` cycling through the users;
4. for each of two `/users/me` concurrencies, one that keeps the server busy and one that
   leaves it mostly idle: `GET /users/me` alone, then again while a login storm runs from a
   second loader started a moment before it. The busy pair shows how much capacity the
   hashing takes; the light pair whether hashing delays a request that finds the server free;
5. the machine's own baseline for the light pair: the floor at the light concurrency alone,
   then while another process verifies the same argon2id hash in a loop with Tessera's
   hasher (its threads at its default priority). No Tessera server is involved, so this
   ratio is what the machine's scheduler does to a server's tail whenever anything hashes.

Everything started is stopped on the way out, failure and Ctrl-C included: the servers by
process group, the database, the Redis servers, the temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TypeVar

import httpx
from tests.redis_server import RedisServer
from tests.redis_topologies import ClusterRedis, SentinelRedis, settings_of

from bench import stores
from bench.core import Figure, Options, Row
from bench.load import LoadResult, LoadSpec, Request, bearer, run_load
from bench.servers import (
    Server,
    ServerSpec,
    base_env,
    floor,
    running,
    scratch_with_log,
    serving,
    tessera,
)
from tessera.main import migrations

NAME = "identity"
TITLE = "GET /users/me and logins in production mode (PostgreSQL, Redis) vs the floor"

ROUNDS = 3
"""Rounds of the floor's run then Tessera's `/users/me` run on one Redis server; the round
of the median ratio is reported (an odd number, so that the median is one of them)."""
MODES = ("single", "Sentinel", "Cluster")
"""The Redis topologies `/users/me` is measured on: one server, a primary with a replica
and three sentinels, three Cluster primaries (as `tests.redis_topologies` starts them)."""
USERS = 50
"""Registered and logged in once before measuring; the request mixes cycle through them."""
LOGIN_CONCURRENCY = 8
"""Connections sending logins, alone and as the storm."""
STORM_ME_CONCURRENCIES = (16, 2)
"""Connections sending `GET /users/me` in the storm comparisons, with and without a storm:
enough to keep the server busy, and few enough to leave it mostly idle."""
ENROL_CONCURRENCY = 8
STORM_LEAD_S = 1.0
"""The login storm runs this long before the `/users/me` loader starts."""
STORM_TAIL_S = 2.0
"""The login storm goes on this long after the `/users/me` window should have closed."""
HASH_LOOP = (
    "import asyncio\n"
    "from tessera.features.identity.adapters import argon2_hasher\n"
    "async def main():\n"
    "    hasher = argon2_hasher.Argon2PasswordHasher()\n"
    "    stored = await hasher.hash('password')\n"
    "    while True:\n"
    "        await hasher.verify(stored, 'password')\n"
    "asyncio.run(main())\n"
)
"""The baseline's background hashing: Tessera's own hasher (argon2-cffi's default profile,
its threads at their default priority: the idle class, hedged at niceness 5 when starved)
verifying in a loop, with no server around it."""
HASH_LOOP_LEAD_S = 1.0
RAISED_LIMIT = "10000000"
"""Requests per minute for every rate-limit group: on, but out of the load's way."""

HEALTH = "/health"
ME = "/api/v1/users/me"
REDIS_FLOOR = "bench.floor_session_app:app"
FLOOR_ME = "/me"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
_PER_REQUEST_CPU = ("client_cpu_ms_per_req", "server_cpu_ms_per_req")

NOTES = (
    f"The load generator (wrk, one thread, driven by bench/lua/requests.lua), the server, "
    f"PostgreSQL and Redis share this machine's {os.cpu_count()} cores. CPU is the share of "
    f"one core during the window (1.00 = one full core); server CPU counts all of granian's "
    f"processes and threads, the argon2 threads included. Other CPU is the rest of the "
    f"machine: Redis and PostgreSQL (busy here: every `/users/me` makes Redis calls), plus "
    f"any noise. When client + server + other nears {os.cpu_count()}, the machine is full: "
    f"req/s and latency then say more about the machine than about Tessera; server CPU "
    f"ms/req still holds.",
    f"`/users/me` cycles through {USERS} users' access tokens (one session each). Per request "
    f"Tessera verifies the JWT once (the signature once per token), then makes one Redis "
    f"round trip: the session touch, which slides its idle expiry, counts the request in "
    f"the rate limit of the session's role and brings the cached profile along, batched "
    f"with those of the other requests in flight. It makes no database query once the "
    f"5-minute profile cache is warm (the warm-up warms it).",
    f"Logins verify an argon2id hash (argon2-cffi's default profile: t=3, m=64 MiB, p=4) in "
    f"worker threads, at most {max(1, (os.cpu_count() or 2) - 1)} at a time per process "
    f"(a core is kept for other requests) at the default priority: the idle class, hedged at "
    f"niceness 5 when starved (see the hashing benchmark), then "
    f"open a session in Redis. Each login creates a session; the storm's do too.",
    "A storm case runs two wrk processes at once: the logins (started "
    f"{STORM_LEAD_S:g} s earlier and stopped after) and `/users/me`. Their server CPU is "
    "the one server's, shared by both, so per-request CPU is left out of those rows. In a "
    "closed loop that keeps the server busy, latency is "
    "mostly queueing (about connections / req/s), so there the p99 ratio follows the "
    "throughput the hashing takes away; the light pair is the one that shows delays.",
    f"The floor and Tessera's `/users/me` on one Redis server are measured in turn, {ROUNDS} "
    "rounds of one run each; their rows are the round whose req/s ratio is the median (the "
    "log lists every round). The other topologies' rows are one run each, compared to that "
    "floor. In a whole run of the benchmarks this floor is the section's own, not the run's "
    "shared one.",
    "Ratio rows: `/users/me / floor` is Tessera over the floor (below 1 for req/s, above 1 for "
    "p99 and CPU ms/req mean Tessera is slower); `storm / no storm` compares `/users/me` at "
    "the same concurrency with and without the storm, measured just before. The issue's "
    "targets: req/s ratio 0.33x or more; p99 ratio under the storm 3.00x or less. Figures "
    "only, nothing is checked.",
    "`floor with one Redis round trip` (`bench.floor_session_app`) is the floor of a route "
    "that must make one Redis round trip per request, as the SPEC's atomic per-request "
    "count makes `/users/me`: a bare Litestar `GET /me` whose one Lua script, through "
    "redis-py's own client and pool, counts the request and reads the cached profile "
    "Tessera filled, answering the same envelope; no session check, header or middleware. "
    "Measured on Tessera's Redis right after Tessera's `/users/me` on one server.",
    "The last three rows are the machine's baseline for the light storm pair, measured in the "
    "same run without Tessera's server: the floor alone, then while another process verifies "
    "the same argon2id hash in a loop with Tessera's hasher, whose threads run at its "
    "default priority (hedged: the idle class first). Its other CPU is mostly that loop. "
    "When the floor's own p99 ratio is well above 3, a CPU-bound neighbour at that priority "
    "is enough to delay "
    "this machine's requests, and the light pair's ratio measures the machine more than the "
    "server.",
    "Welcome emails of the registrations go to the Redis email stream, where no worker "
    "consumes them (none runs); the run's Redis servers are stopped afterwards.",
    "Redis topologies: `/users/me` on one server, on Sentinel (Tessera asks a sentinel for "
    "the primary, then talks to it; the primary also feeds its replica) and on a "
    "three-primary Cluster (each command goes to its key's node; a request's keys share a "
    "hash slot), each ratio to the same floor. All three run on this machine's cores.",
)

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class User:
    email: str
    password: str


@dataclass(frozen=True)
class _Storm:
    me: LoadResult
    logins: LoadResult
    covered: bool
    """Whether the login storm lasted the whole `/users/me` window."""


@dataclass(frozen=True)
class _Comparison:
    """`/users/me` at one concurrency, without and then with a login storm."""

    concurrency: int
    calm: LoadResult
    storm: _Storm


def setup(opts: Options) -> str:
    return (
        f"Closed loop (wrk, one thread), {opts.warmup:g} s warm-up then {opts.duration:g} s "
        f"measured per case; floor and `/users/me`: {opts.concurrency} keep-alive connections; "
        f"logins: {LOGIN_CONCURRENCY} connections; storms: {_connections()} `/users/me` "
        f"connections with and without {LOGIN_CONCURRENCY} login connections. "
        f"`tessera serve --workers 1`, {USERS} users, rate limits {RAISED_LIMIT}/min."
    )


async def run(opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    users = [User(f"bench{n}@example.com", f"bench-{secrets.token_hex(8)}") for n in range(USERS)]
    async with _production_tessera("single") as (server, redis_url):
        tokens = await enrol(server.base_url, users)
        me_requests = [Request(ME, headers=bearer(token)) for token in tokens]
        login_requests = [_login_request(user) for user in users]
        floor_result, me = await _alternated(server, me_requests, opts)
        redis_floor = await _measure_redis_floor(redis_url, tokens, opts)
        _say(f"POST {LOGIN}, {LOGIN_CONCURRENCY} connections")
        logins = await run_load(_spec(server, login_requests, LOGIN_CONCURRENCY, opts))
        comparisons = [
            await _compare(server, me_requests, login_requests, concurrency, opts)
            for concurrency in STORM_ME_CONCURRENCIES
        ]
    modes = {"single": me}
    for mode in MODES[1:]:
        async with _production_tessera(mode) as (server, _):
            tokens = await enrol(server.base_url, users)
            me_requests = [Request(ME, headers=bearer(token)) for token in tokens]
            _say(f"GET {ME} on {mode}, {opts.concurrency} connections")
            modes[mode] = await run_load(_spec(server, me_requests, opts.concurrency, opts))
    baseline = await _machine_baseline(opts)
    return _rows(opts, floor_result, redis_floor, modes, logins, comparisons, baseline)


def _connections() -> str:
    return " and ".join(str(concurrency) for concurrency in STORM_ME_CONCURRENCIES)


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


# The servers


async def measure_floor(opts: Options) -> LoadResult:
    """The floor answering `GET /health` on `opts.concurrency` connections. A whole run of
    `python -m bench` measures it once, first, and hands it to every benchmark in `opts.floor`
    (the summary's ratios); this benchmark's own ratios use the floor it alternates with
    Tessera (`_alternated`)."""
    _say("floor: starting")
    async with serving(floor()) as server:
        _say(f"floor: GET {HEALTH}, {opts.concurrency} connections")
        return await run_load(_spec(server, [Request(HEALTH)], opts.concurrency, opts))


async def _alternated(
    server: Server, me_requests: Sequence[Request], opts: Options
) -> tuple[LoadResult, LoadResult]:
    """The floor's `GET /health`, then Tessera's `/users/me`, `ROUNDS` times (the floor
    started beside Tessera, idle while Tessera is loaded): the round of the median ratio."""
    rounds: list[tuple[LoadResult, LoadResult]] = []
    health = [Request(HEALTH)]
    async with serving(floor()) as floor_server:
        for round_ in range(1, ROUNDS + 1):
            floor_run = await run_load(_spec(floor_server, health, opts.concurrency, opts))
            me = await run_load(_spec(server, me_requests, opts.concurrency, opts))
            rounds.append((floor_run, me))
            _say(
                f"round {round_}/{ROUNDS}, {opts.concurrency} connections: floor GET {HEALTH} "
                f"{floor_run.rps:,.0f} req/s, GET {ME} {me.rps:,.0f} req/s"
            )
    return _median_round(rounds)


def _median_round(rounds: Sequence[tuple[LoadResult, LoadResult]]) -> tuple[LoadResult, LoadResult]:
    """The (floor, `/users/me`) round whose req/s ratio is the median (of an odd number).
    A round's two runs are minutes closer in time than the medians of each side would be,
    so the machine's drift cancels in its ratio."""
    return sorted(rounds, key=lambda pair: pair[1].rps / pair[0].rps)[len(rounds) // 2]


async def _measure_redis_floor(redis_url: str, tokens: Sequence[str], opts: Options) -> LoadResult:
    """The floor with one Redis round trip (`bench.floor_session_app`) answering `GET /me`
    for the same tokens on Tessera's Redis, whose profile cache Tessera's load has filled."""
    _say("floor with one Redis round trip: starting")
    async with serving(redis_floor_spec(redis_url)) as server:
        _say(f"floor with one Redis round trip: GET {FLOOR_ME}, {opts.concurrency} connections")
        requests = [Request(FLOOR_ME, headers=bearer(token)) for token in tokens]
        return await run_load(_spec(server, requests, opts.concurrency, opts))


def redis_floor_spec(redis_url: str, prefix: str = "") -> ServerSpec:
    """The floor with one Redis round trip (`bench.floor_session_app`) on `redis_url`, its
    keys under `prefix` (Tessera's `REDIS_KEY_PREFIX`)."""
    env = {"FLOOR_REDIS_URL": redis_url, "FLOOR_REDIS_KEY_PREFIX": prefix}
    return floor(REDIS_FLOOR, name="floor-redis", env=env)


@asynccontextmanager
async def _production_tessera(mode: str) -> AsyncIterator[tuple[Server, str]]:
    """Tessera on a fresh database and a Redis of its own in `mode` (one of `MODES`), and
    that Redis's URL (empty but for one server); all of it gone on the way out."""
    async with AsyncExitStack() as stack:
        _say("creating and migrating a PostgreSQL database")
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-identity-")))
        _say(f"redis: starting ({mode})")
        redis_env = await _redis(mode, scratch, stack)
        spec = _tessera_spec(database_url, redis_env, scratch)
        _say("tessera: starting (production stores, one worker)")
        server = await stack.enter_async_context(serving(spec))
        yield server, redis_env.get("REDIS_URL", "")


async def _redis(mode: str, scratch: Path, stack: AsyncExitStack) -> dict[str, str]:
    """Start the Redis of `mode`, stopped by `stack`; the settings that name it. Each mode
    gets servers of its own, so no other user of the machine's Redis skews the comparison."""
    topology: RedisServer | SentinelRedis | ClusterRedis
    if mode == "single":
        topology = RedisServer(scratch / "redis", persistent=False)
    else:
        topology = SentinelRedis() if mode == "Sentinel" else ClusterRedis()
    await asyncio.to_thread(topology.start)
    stack.callback(topology.stop)
    if isinstance(topology, RedisServer):
        return {"REDIS_URL": topology.url}
    return {name.upper(): value for name, value in settings_of(topology.topology).items()}


def _tessera_spec(database_url: str, redis_env: dict[str, str], scratch: Path) -> ServerSpec:
    env = redis_env | {
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": secrets.token_urlsafe(30),  # 40 characters
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(scratch / "data"),
        "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_ADMIN_PER_MINUTE": RAISED_LIMIT,
    }
    return tessera(env=env, cwd=scratch, workers=1)


# Registering and logging in the users


async def enrol(base_url: str, users: Sequence[User]) -> list[str]:
    """Register every user, log each in once; their access tokens, in order."""
    await register(base_url, users)
    return await sign_in(base_url, users)


async def register(base_url: str, users: Sequence[User]) -> None:
    """Register every user through the API."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        _say(f"registering {len(users)} users")
        await _each(users, lambda user: _register(client, user))


async def sign_in(base_url: str, users: Sequence[User]) -> list[str]:
    """Log every (registered) user in once; their access tokens, in order."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        _say(f"logging {len(users)} users in")
        return await _each(users, lambda user: _log_in(client, user))


async def _each(items: Sequence[T], work: Callable[[T], Awaitable[U]]) -> list[U]:
    """`work` on every item, `ENROL_CONCURRENCY` at a time; the results in order."""
    gate = asyncio.Semaphore(ENROL_CONCURRENCY)

    async def bounded(item: T) -> U:
        async with gate:
            return await work(item)

    return await asyncio.gather(*(bounded(item) for item in items))


async def _register(client: httpx.AsyncClient, user: User) -> None:
    name = user.email.partition("@")[0].title()
    body = {"email": user.email, "password": user.password, "full_name": name}
    response = await client.post(REGISTER, json=body | {"terms_accepted": True})
    _expect(response, 201)


async def _log_in(client: httpx.AsyncClient, user: User) -> str:
    response = await client.post(LOGIN, json={"email": user.email, "password": user.password})
    _expect(response, 200)
    token = response.json()["data"]["access_token"]
    assert isinstance(token, str)
    return token


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        request = f"{response.request.method} {response.request.url.path}"
        raise RuntimeError(f"{request} answered {response.status_code}: {response.text[:500]}")


def _login_request(user: User) -> Request:
    return Request.json(LOGIN, {"email": user.email, "password": user.password})


# The loads


def _spec(
    server: Server,
    requests: Sequence[Request],
    concurrency: int,
    opts: Options,
    *,
    warmup: float | None = None,
    duration: float | None = None,
) -> LoadSpec:
    return LoadSpec(
        url=server.base_url,
        requests=requests,
        concurrency=concurrency,
        duration=opts.duration if duration is None else duration,
        warmup=opts.warmup if warmup is None else warmup,
        cpu_clocks={"server": server.cpu_seconds},
    )


async def _compare(
    server: Server,
    me_requests: Sequence[Request],
    login_requests: Sequence[Request],
    concurrency: int,
    opts: Options,
) -> _Comparison:
    _say(f"GET {ME}, {concurrency} connections, no storm")
    calm = await run_load(_spec(server, me_requests, concurrency, opts))
    _say(f"GET {ME}, {concurrency} connections, during a login storm")
    me_spec = _spec(server, me_requests, concurrency, opts)
    storm = await _under_storm(server, me_spec, login_requests, opts)
    return _Comparison(concurrency, calm, storm)


async def _under_storm(
    server: Server, me_spec: LoadSpec, login_requests: Sequence[Request], opts: Options
) -> _Storm:
    """`me_spec`'s load while logins run from a second loader, started first, stopped after."""
    storm_s = STORM_LEAD_S + opts.warmup + opts.duration + STORM_TAIL_S
    login_spec = _spec(
        server, login_requests, LOGIN_CONCURRENCY, opts, warmup=0.0, duration=storm_s
    )
    storm_ends = perf_counter() + storm_s
    async with asyncio.TaskGroup() as group:
        storm = group.create_task(run_load(login_spec))
        await asyncio.sleep(STORM_LEAD_S)
        me = await run_load(me_spec)
        me_done = perf_counter()
    return _Storm(me, storm.result(), covered=storm_ends >= me_done)


@dataclass(frozen=True)
class _Baseline:
    """The floor at the light storm concurrency, alone and beside a background hash loop."""

    concurrency: int
    calm: LoadResult
    hashing: LoadResult


async def _machine_baseline(opts: Options) -> _Baseline:
    concurrency = min(STORM_ME_CONCURRENCIES)
    async with serving(floor()) as server:
        health = [Request(HEALTH)]
        _say(f"floor: GET {HEALTH}, {concurrency} connections, no hashing")
        calm = await run_load(_spec(server, health, concurrency, opts))
        _say(f"floor: GET {HEALTH}, {concurrency} connections, beside a hash loop")
        argv = [sys.executable, "-c", HASH_LOOP]
        with scratch_with_log("hash-loop") as (scratch, log):
            async with running(argv, env=base_env(), cwd=scratch, log=log):
                await asyncio.sleep(HASH_LOOP_LEAD_S)
                hashing = await run_load(_spec(server, health, concurrency, opts))
    return _Baseline(concurrency, calm, hashing)


# The rows


def _rows(
    opts: Options,
    floor_result: LoadResult,
    redis_floor: LoadResult,
    modes: Mapping[str, LoadResult],
    logins: LoadResult,
    comparisons: Sequence[_Comparison],
    baseline: _Baseline,
) -> list[Row]:
    c = opts.concurrency
    rows = [Row(f"floor GET /health, c={c}", floor_result.figures())]
    for mode, me in modes.items():
        on = "" if mode == MODES[0] else f" on {mode}"
        rows += [
            Row(f"tessera GET /users/me{on}, c={c}", me.figures()),
            Row(f"/users/me{on} / floor", _versus_floor(me, floor_result), ratio=True),
        ]
        if mode == MODES[0]:
            rows += [
                Row(f"floor with one Redis round trip GET /me, c={c}", redis_floor.figures()),
                Row(
                    "/users/me / floor with one Redis round trip",
                    _versus_floor(me, redis_floor),
                    ratio=True,
                ),
            ]
    rows.append(Row(f"POST /auth/login, c={LOGIN_CONCURRENCY}", logins.figures()))
    for comparison in comparisons:
        rows += _comparison_rows(comparison)
    light = baseline.concurrency
    rows += [
        Row(f"floor GET /health, c={light}, no hashing", baseline.calm.figures()),
        Row(f"floor GET /health, c={light}, beside a hash loop", baseline.hashing.figures()),
        Row(
            f"hash loop / none (floor), c={light}",
            _versus_calm(baseline.hashing, baseline.calm),
            ratio=True,
        ),
    ]
    return rows


def _comparison_rows(comparison: _Comparison) -> list[Row]:
    c, storm = comparison.concurrency, comparison.storm
    during = "during a login storm" + ("" if storm.covered else " (the storm ended early)")
    return [
        Row(f"GET /users/me, c={c}, no storm", comparison.calm.figures()),
        Row(f"GET /users/me, c={c}, {during}", _shared(storm.me)),
        Row(f"· the storm: POST /auth/login, c={LOGIN_CONCURRENCY}", _shared(storm.logins)),
        Row(f"storm / no storm, c={c}", _versus_calm(storm.me, comparison.calm), ratio=True),
    ]


def _shared(result: LoadResult) -> dict[str, Figure]:
    """Figures of a loader that shared the client process and the server with another."""
    return {key: value for key, value in result.figures().items() if key not in _PER_REQUEST_CPU}


def _versus_floor(me: LoadResult, floor_result: LoadResult) -> dict[str, Figure]:
    return {
        "rps": _quotient(me.rps, floor_result.rps),
        "p50_ms": _quotient(me.p50_ms, floor_result.p50_ms),
        "p99_ms": _quotient(me.p99_ms, floor_result.p99_ms),
        "server_cpu_ms_per_req": _quotient(
            me.cpu_ms_per_request("server"), floor_result.cpu_ms_per_request("server")
        ),
    }


def _versus_calm(stormy: LoadResult, calm: LoadResult) -> dict[str, Figure]:
    return {
        "rps": _quotient(stormy.rps, calm.rps),
        "p50_ms": _quotient(stormy.p50_ms, calm.p50_ms),
        "p90_ms": _quotient(stormy.p90_ms, calm.p90_ms),
        "p99_ms": _quotient(stormy.p99_ms, calm.p99_ms),
    }


def _quotient(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom
