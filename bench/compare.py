"""A/B: `GET /users/me` of two checkouts beside the floor, loaded by wrk, in one run.

`python -m bench.compare --base ../main` starts four servers at once: the floor (bare
Litestar, `GET /health`), the floor with one Redis round trip (`bench.floor_session_app`,
`GET /me`: the rate-limit count and the cached profile, through redis-py), Tessera from the
base checkout (its own `.venv`) and Tessera from this one, both in production mode on one
throwaway PostgreSQL database and one Redis namespace, with one JWT key, so the same 50
users' access tokens work on both. Then, for `--rounds` rounds, wrk (one thread,
`--connections` keep-alive connections, `--latency`) loads each in turn (`bench.load.wrk`:
bench/lua/requests.lua cycling through the tokens), the order rotated every round so no
side always follows another. The report gives each side's median req/s and p99 over the
rounds and their ratio to the floor's and to the floor with Redis.

Use it for any change on the hot path: the base is the commit before the change (a git
worktree with `uv sync --frozen` run in it), the head is this tree.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench import identity, load, stores
from bench.load import Request, bearer
from bench.servers import REPO_ROOT, Server, ServerSpec, base_env, floor, serving
from tessera.main import migrations

USERS = 50
RAISED_LIMIT = "10000000"


@dataclass(frozen=True)
class Sample:
    rps: float
    p99_ms: float
    cpu_us: float = 0.0
    """The server's CPU time per request (all its processes and threads), microseconds."""


async def wrk(url: str, requests: Sequence[Request], *, connections: int, seconds: float) -> Sample:
    """One wrk run; any answer that is not 2xx, or socket error, fails the comparison."""
    run = await load.wrk(url, requests, connections=connections, seconds=seconds)
    if run.errors or run.p99_ms is None:
        raise RuntimeError(f"errors under load on {url}: {run.errors or 'no answer'}")
    return Sample(run.rps, run.p99_ms)


def _tessera(checkout: Path, env: dict[str, str], scratch: Path) -> ServerSpec:
    python = checkout / ".venv" / "bin" / "python"
    return ServerSpec(
        name=f"tessera ({checkout.name})",
        argv=lambda port: [
            str(python),
            "-m",
            "tessera",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=base_env() | env | {"DATA_DIR": str(scratch / checkout.name)},
        cwd=scratch,
    )


@asynccontextmanager
async def _servers(
    base: Path, head: Path, scratch: Path
) -> AsyncIterator[tuple[Server, Server, Server, Server]]:
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        env = {
            "ENVIRONMENT": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": stores.REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET_KEY": secrets.token_urlsafe(30),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
            "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        }
        floor_server = await stack.enter_async_context(serving(floor()))
        redis_floor = identity.redis_floor_spec(stores.REDIS_URL, prefix)
        redis_floor_server = await stack.enter_async_context(serving(redis_floor))
        base_server = await stack.enter_async_context(serving(_tessera(base, env, scratch)))
        head_server = await stack.enter_async_context(serving(_tessera(head, env, scratch)))
        yield floor_server, redis_floor_server, base_server, head_server


async def run(base: Path, head: Path, *, rounds: int, seconds: float, connections: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as folder:
        scratch = Path(folder)
        async with _servers(base, head, scratch) as servers:
            samples = await _measure(servers, rounds, seconds, connections)
    return _report(samples, base, head, rounds=rounds, seconds=seconds, connections=connections)


async def _measure(
    servers: tuple[Server, Server, Server, Server],
    rounds: int,
    seconds: float,
    connections: int,
) -> dict[str, list[Sample]]:
    floor_server, redis_floor_server, base_server, head_server = servers
    users = [
        identity.User(f"ab{n}@example.com", f"ab-{secrets.token_hex(8)}") for n in range(USERS)
    ]
    # Each side signs its users in itself: the two may keep sessions differently in Redis.
    head_tokens = await identity.enrol(head_server.base_url, users)
    base_tokens = await identity.sign_in(base_server.base_url, users)
    targets = {
        "floor": (floor_server.base_url, [Request(identity.HEALTH)]),
        "floor+redis": (redis_floor_server.base_url, _me(head_tokens, identity.FLOOR_ME)),
        "base": (base_server.base_url, _me(base_tokens)),
        "head": (head_server.base_url, _me(head_tokens)),
    }
    # Warm-up: connections, and the profile cache (Tessera's first, which fills what the
    # floor with Redis reads).
    for name in ("floor", "base", "head", "floor+redis"):
        url, requests = targets[name]
        await wrk(url, requests, connections=connections, seconds=3)
    samples: dict[str, list[Sample]] = {name: [] for name in targets}
    order = list(targets)
    for round_number in range(rounds):
        turn = round_number % len(order)
        for name in order[turn:] + order[:turn]:
            url, requests = targets[name]
            server = servers[order.index(name)]
            before = server.cpu_seconds()
            sample = await wrk(url, requests, connections=connections, seconds=seconds)
            used = server.cpu_seconds() - before
            sample = replace(sample, cpu_us=used / (sample.rps * seconds) * 1e6)
            samples[name].append(sample)
            print(
                f"round {round_number + 1} {name}: {sample.rps:,.0f} req/s, "
                f"p99 {sample.p99_ms:.2f} ms, {sample.cpu_us:.0f} us CPU/req",
                file=sys.stderr,
            )
    return samples


def _me(tokens: Sequence[str], path: str = identity.ME) -> list[Request]:
    return [Request(path, headers=bearer(token)) for token in tokens]


def _report(
    samples: dict[str, list[Sample]],
    base: Path,
    head: Path,
    *,
    rounds: int,
    seconds: float,
    connections: int,
) -> str:
    median = {
        name: Sample(
            statistics.median(s.rps for s in runs),
            statistics.median(s.p99_ms for s in runs),
            statistics.median(s.cpu_us for s in runs),
        )
        for name, runs in samples.items()
    }
    floor_rps, redis_floor_rps = median["floor"].rps, median["floor+redis"].rps
    lines = [
        f"wrk -t1 -c{connections}, {rounds} rounds of {seconds:g} s, medians; "
        f"base {base}, head {head}",
        "| server | req/s | p99 ms | server CPU us/req | req/s / floor | / floor+redis |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, value in median.items():
        ratios = f"{value.rps / floor_rps:.3f}x | {value.rps / redis_floor_rps:.3f}x"
        figures = f"{value.rps:,.0f} | {value.p99_ms:.2f} | {value.cpu_us:.0f} | {ratios}"
        lines.append(f"| {name} | {figures} |")
    after, before = median["head"], median["base"]
    cpu = after.cpu_us / before.cpu_us
    lines.append(f"head / base: req/s {after.rps / before.rps:.3f}x, CPU per request {cpu:.3f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--head", type=Path, default=REPO_ROOT, help="default: this one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    if (missing := load.wrk_missing()) is not None:
        sys.exit(missing)
    for checkout in (args.base, args.head):
        if not (checkout / ".venv" / "bin" / "python").exists():
            sys.exit(f"{checkout}: no .venv (run `uv sync --frozen` there)")
    print(
        asyncio.run(
            run(
                args.base.resolve(),
                args.head.resolve(),
                rounds=args.rounds,
                seconds=args.seconds,
                connections=args.connections,
            )
        )
    )


if __name__ == "__main__":
    main()
