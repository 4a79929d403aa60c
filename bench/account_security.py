"""Account security in production mode: sign-in with a second factor and with a passkey
beside plain login, and what the audit write costs an administrator's `PATCH /users/{id}`.

One throwaway PostgreSQL database (migrated) and a Redis key prefix of the run's own serve
every server here, each with one worker and `ENVIRONMENT=development`, rate limits on but
raised out of the way.

Sign-ins, on `tessera serve --workers 1`, one flow after the other:

1. plain: `POST /auth/login` with a password, answered with a token pair;
2. MFA: `POST /auth/login` for an account with TOTP on (answered with a ticket), then
   `POST /auth/mfa/verify` with the ticket and the current code (pyotp, from the secret
   the account enrolled with); a code is accepted once per account and 30-second step, so
   the client takes an account whose code of the current step is unspent, and waits for the
   next step when there is none (counted in `pool_waits`);
3. passkey: `POST /auth/passkeys/login/verify` with assertions signed in advance by the
   tests' software authenticator (`tests.soft_authenticator`, one per account, its sign
   count kept at 0 as synced passkeys report it) over challenges fetched in advance from
   `/auth/passkeys/login/options`; wrk replays them. Each challenge is single-use: the
   warm-up's rate sizes the window's batch.

The two password flows are argon2-bound (about 130 ms of CPU a login): a Python client loop
drives them, which at that rate costs the machine little beside the server. A build
without the MFA or passkey routes (their setup or options route answers 404) gets a
"not available in this build" row for that flow.

The audit write: Tessera (`tessera.main.asgi:create`) against the same app with its
`AuditTrail` replaced by one that writes nothing (`bench.tessera_without_audit:create`),
both under granian as a factory with one worker, loaded by wrk in alternate rounds (the
order rotated each round): an admin changes users' `full_name`, every request a real
change, so each writes the user, an outbox event and (with audit) an audit row.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import httpx
from tests.soft_authenticator import SoftAuthenticator

from bench import identity, users_list
from bench.core import Figure, Options, Row
from bench.load import (
    LoadResult,
    LoadSpec,
    Request,
    bearer,
    machine_cpu_seconds,
    percentile_ms,
    run_load,
)
from bench.servers import Server, floor, serving, tessera

try:  # pyotp comes with two-factor sign-in; a build without it has no MFA flow to measure
    import pyotp  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    HAS_PYOTP = False
else:
    HAS_PYOTP = True

NAME = "account_security"
TITLE = "Sign-in with MFA and with a passkey beside plain login; the audit write's cost"

LOGIN = "/api/v1/auth/login"
MFA_SETUP = "/api/v1/auth/mfa/totp/setup"
MFA_CONFIRM = "/api/v1/auth/mfa/totp/confirm"
MFA_VERIFY = "/api/v1/auth/mfa/verify"
PASSKEY_REGISTER_OPTIONS = "/api/v1/auth/passkeys/register/options"
PASSKEY_REGISTER_VERIFY = "/api/v1/auth/passkeys/register/verify"
PASSKEY_LOGIN_OPTIONS = "/api/v1/auth/passkeys/login/options"
PASSKEY_LOGIN_VERIFY = "/api/v1/auth/passkeys/login/verify"
USERS = "/api/v1/users"

LOGIN_CONCURRENCY = 8
"""Flows in flight at once in the password sign-ins' client loop."""
DRAIN_S = 60.0
"""How long the flows in flight when a window closes may take to finish."""
PLAIN_USERS = 40
MFA_USERS = 150
MIN_MFA_USERS = 2 * LOGIN_CONCURRENCY
MFA_POOL_MARGIN = 1.5
"""Accounts with TOTP on: each can finish one MFA sign-in per 30-second step, so the run
enrols 1.5 times as many as the plain sign-ins' rate would use in a warm-up and a window,
plus the flows in flight when each closes (at least 16, at most 150)."""
PASSKEY_USERS = 20
"""Accounts with a passkey each; the assertions cycle through them."""
FETCH_CONCURRENCY = 16
"""Requests in flight while enrolling and fetching passkey challenges."""
WARMUP_CHALLENGES = 2_000
"""Passkey assertions for the warm-up, whose rate sizes the window's batch."""
CHALLENGE_MARGIN = 2.0
"""The window's batch: this many times what the warm-up's rate would use."""
MAX_CHALLENGES = 40_000
AUDIT_ROUNDS = 2
"""Rounds of the audit comparison: each loads both servers, in turn, the order rotated."""
RP_ID = "bench.tessera.test"
ORIGIN = f"https://{RP_ID}"
STEP_S = 30
NOT_AVAILABLE = "not available in this build"

NOTES = (
    f"One PostgreSQL database and one Redis serve every server; wrk, the client loop, the "
    f"server, PostgreSQL and Redis share this machine's {os.cpu_count()} cores. Server CPU "
    "ms/req is the server's CPU per successful request (per completed sign-in for the "
    "flows), whatever the rate.",
    f"Password sign-ins (plain and MFA) run from a Python client loop ({LOGIN_CONCURRENCY} "
    "flows in flight), not wrk: each is argon2-bound (about 130 ms of server CPU), so the "
    "loop's own CPU (client_cpu) is small beside it. An MFA sign-in is two requests, "
    "`/auth/login` then `/auth/mfa/verify`; its latency is the whole flow's. "
    "A TOTP code is accepted once per account and 30-second step, so a flow takes an "
    "account whose current step is unspent; `accounts` is how many have TOTP on "
    f"({MFA_POOL_MARGIN:g} times what the plain rate would use in a warm-up and a window, "
    "plus the flows in flight as each closes, "
    f"{MIN_MFA_USERS} to {MFA_USERS}), `pool_waits` how often none was left and the loop "
    "waited for the next step; the enrolment's confirmations spend their step, so the "
    "flows start at the next one. Flows in flight when a window closes finish uncounted "
    "before the next case starts. The hashing runs at Tessera's low priority (decision "
    "record 0003), so on a machine busy with other work these flows slow down the most.",
    "Passkey sign-in is `POST /auth/passkeys/login/verify` alone, replayed by wrk with "
    f"assertions signed in advance over challenges fetched in advance (each single-use: "
    f"{WARMUP_CHALLENGES} for the warm-up, then {CHALLENGE_MARGIN:g} times what its rate "
    f"would use for the window, at most {MAX_CHALLENGES}). Only 2xx answers count; an "
    "`HTTP 400` among the errors means the batch ran out. "
    f"{PASSKEY_USERS} accounts hold one passkey each (sign count 0, as synced passkeys).",
    "The audit write: the same Tessera with and without its audit trail (a no-op "
    "`AuditTrail` through a dishka override, `bench/tessera_without_audit.py`), both under "
    "granian as a factory with one worker, wrk with the admin's token on "
    f"the run's connections, {AUDIT_ROUNDS} rounds each, alternating, the order "
    "rotated. Each request changes a user's full name (every request a real change), so it "
    "writes the user, an outbox event and, with audit, the audit row. req/s and CPU ms/req "
    "are over all rounds; p99 is the rounds' median; `rounds_rps` lists each round. The "
    "ratio row is with over without audit: below 1 for req/s, above 1 for p99 and CPU "
    "ms/req are what the audit write costs.",
)


def setup(opts: Options) -> str:
    return (
        f"Password sign-ins: client loop, {LOGIN_CONCURRENCY} flows in flight; passkey "
        f"sign-ins and PATCH /users/{{id}}: wrk (one thread), {opts.concurrency} keep-alive "
        f"connections; {opts.warmup:g} s warm-up then {opts.duration:g} s measured per case "
        f"(per round for the audit pair, {AUDIT_ROUNDS} rounds each). One worker per server; "
        f"{PLAIN_USERS} plain and {PASSKEY_USERS} passkey accounts, TOTP ones as the plain "
        "rate needs."
    )


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


async def run(opts: Options) -> list[Row]:
    if (why := await users_list.not_ready()) is not None:
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    async with _stores() as (env, scratch):
        sign_ins = await _sign_ins(env, scratch, opts)
        audit = await _audit(env, scratch, opts)
    return sign_ins + audit


@asynccontextmanager
async def _stores() -> AsyncIterator[tuple[dict[str, str], Path]]:
    """A migrated throwaway database, a Redis prefix, a scratch folder; the servers' env."""
    _say("creating and migrating a PostgreSQL database")
    async with users_list.production_stores("bench-secure-") as (_, env, scratch):
        yield (
            env
            | {
                "DATA_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
                "WEBAUTHN_RP_ID": RP_ID,
                "WEBAUTHN_ORIGINS": ORIGIN,
            },
            scratch,
        )


# Sign-ins


@dataclass
class _TotpAccount:
    user: identity.User
    secret: str
    spent_step: int
    """The last step whose code the server took for this account (its confirm's, first)."""
    busy: bool = False


@dataclass
class _TotpPool:
    """Hands out accounts whose code of the current step is unspent, one flow at a time."""

    accounts: list[_TotpAccount]
    waits: int = 0

    async def take(self) -> _TotpAccount:
        while True:
            step = _step()
            for account in self.accounts:
                if not account.busy and account.spent_step < step:
                    account.busy = True
                    return account
            self.waits += 1
            await asyncio.sleep((step + 1) * STEP_S - time.time() + 0.05)


def _step() -> int:
    return int(time.time() // STEP_S)


async def _next_step() -> None:
    wait = (_step() + 1) * STEP_S - time.time() + 0.05
    _say(f"MFA: waiting {wait:.0f} s for a fresh TOTP step")
    await asyncio.sleep(wait)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    kind: str = ""
    """Why not, for a failed flow: `HTTP 401`, `ConnectError`, ..."""


Flow = Callable[[httpx.AsyncClient], Awaitable[_Outcome]]


async def _sign_ins(env: Mapping[str, str], scratch: Path, opts: Options) -> list[Row]:
    run_id = secrets.token_hex(4)
    plain = [_user(f"plain{n}-{run_id}") for n in range(PLAIN_USERS)]
    keyed = [_user(f"passkey{n}-{run_id}") for n in range(PASSKEY_USERS)]
    totp = [_user(f"totp{n}-{run_id}") for n in range(MFA_USERS)]
    _say("tessera: starting (production stores, one worker)")
    async with serving(tessera(env=env, cwd=scratch, workers=1)) as server:
        await identity.register(server.base_url, [*plain, *keyed, totp[0]])
        await users_list.create_admin(env, scratch)
        authenticators = await _enrol_passkeys(server.base_url, keyed)
        _say(f"plain sign-ins: POST {LOGIN}, {LOGIN_CONCURRENCY} flows")
        plain_result = await _client_load(server, _plain_flow(plain), opts)
        rows = [Row(f"plain: POST /auth/login, c={LOGIN_CONCURRENCY}", plain_result.figures())]
        mfa_case = f"MFA: /auth/login + /auth/mfa/verify, c={LOGIN_CONCURRENCY}"
        if not await _mfa_available(server.base_url, totp[0]):
            rows.append(Row(mfa_case, {"why": NOT_AVAILABLE}))
        else:
            # No MFA sign-in is quicker than a plain one: enough accounts for the plain rate.
            flows = plain_result.rps * (opts.warmup + opts.duration) * MFA_POOL_MARGIN
            flows += 2 * LOGIN_CONCURRENCY  # those in flight when the two windows close
            accounts = totp[: max(MIN_MFA_USERS, min(MFA_USERS, math.ceil(flows)))]
            await identity.register(server.base_url, accounts[1:])
            pool = await _enrol_totp(server.base_url, accounts)
            await _next_step()  # the confirmations spent the current step's codes
            _say(f"MFA sign-ins: POST {LOGIN} then {MFA_VERIFY}, {LOGIN_CONCURRENCY} flows")
            mfa = await _client_load(server, _mfa_flow(pool), opts)
            figures = mfa.figures() | {"accounts": len(accounts), "pool_waits": pool.waits}
            rows += [
                Row(mfa_case, figures),
                Row("MFA / plain", _versus(mfa, plain_result), ratio=True),
            ]
        passkey_case = f"passkey: POST /auth/passkeys/login/verify, c={opts.concurrency}"
        if authenticators is None:
            rows.append(Row(passkey_case, {"why": NOT_AVAILABLE}))
        else:
            passkey, batch = await _passkey_load(server, authenticators, opts)
            rows += [
                Row(passkey_case, passkey.figures() | {"challenges": batch}),
                Row("passkey / plain", _versus(passkey, plain_result), ratio=True),
            ]
    return rows


def _user(name: str) -> identity.User:
    return identity.User(f"{name}@example.com", f"bench-{secrets.token_hex(8)}")


async def _each(items: Sequence[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def bounded(item: Any) -> Any:
        async with gate:
            return await work(item)

    return await asyncio.gather(*(bounded(item) for item in items))


def _data(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        request = f"{response.request.method} {response.request.url.path}"
        raise RuntimeError(f"{request} answered {response.status_code}: {response.text[:500]}")
    return response.json()["data"]


async def _token(client: httpx.AsyncClient, user: identity.User) -> str:
    body = {"email": user.email, "password": user.password}
    token: str = _data(await client.post(LOGIN, json=body))["access_token"]
    return token


async def _mfa_available(base_url: str, user: identity.User) -> bool:
    """Whether this build has TOTP sign-in (and pyotp to compute codes)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        answer = await client.post(MFA_SETUP, headers=bearer(await _token(client, user)))
    if answer.status_code in (404, 405) or not HAS_PYOTP:
        why = "" if HAS_PYOTP else ", pyotp not installed"
        _say(f"MFA: {MFA_SETUP} answered {answer.status_code}{why}: {NOT_AVAILABLE}")
        return False
    _data(answer)  # any other refusal is a failure
    return True


async def _enrol_totp(base_url: str, users: Sequence[identity.User]) -> _TotpPool:
    """TOTP on for every user: setup, then confirm with the current code."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:

        async def enrol(user: identity.User) -> _TotpAccount:
            headers = bearer(await _token(client, user))
            secret: str = _data(await client.post(MFA_SETUP, headers=headers))["secret"]
            step = _step()
            code = pyotp.TOTP(secret).at(step * STEP_S)
            _data(await client.post(MFA_CONFIRM, json={"code": code}, headers=headers))
            return _TotpAccount(user, secret, spent_step=step)

        _say(f"MFA: enrolling {len(users)} accounts")
        return _TotpPool(await _each(users, enrol))


async def _enrol_passkeys(
    base_url: str, users: Sequence[identity.User]
) -> list[SoftAuthenticator] | None:
    """A passkey for every user, each on a software authenticator of its own whose sign
    count stays 0, or None when this build has no passkey routes."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:

        async def register(user: identity.User) -> SoftAuthenticator | None:
            headers = bearer(await _token(client, user))
            answer = await client.post(PASSKEY_REGISTER_OPTIONS, headers=headers)
            if answer.status_code in (404, 405):
                return None
            ceremony = _data(answer)
            authenticator = SoftAuthenticator(ORIGIN, counting=False)
            credential = authenticator.create(ceremony["options"])
            body = {"challenge_id": ceremony["challenge_id"], "credential": credential}
            _data(await client.post(PASSKEY_REGISTER_VERIFY, json=body, headers=headers), 201)
            return authenticator

        first = await register(users[0])
        if first is None:
            _say(f"passkeys: {PASSKEY_REGISTER_OPTIONS} answered 404: {NOT_AVAILABLE}")
            return None
        _say(f"passkeys: registering {len(users) - 1} more")
        rest = await _each(users[1:], register)
    return [first, *(authenticator for authenticator in rest if authenticator is not None)]


def _plain_flow(users: Sequence[identity.User]) -> Flow:
    turn = iter(range(sys.maxsize))

    async def flow(client: httpx.AsyncClient) -> _Outcome:
        user = users[next(turn) % len(users)]
        answer = await client.post(LOGIN, json={"email": user.email, "password": user.password})
        return _finished(answer)

    return flow


def _mfa_flow(pool: _TotpPool) -> Flow:
    async def flow(client: httpx.AsyncClient) -> _Outcome:
        account = await pool.take()
        try:
            body = {"email": account.user.email, "password": account.user.password}
            answer = await client.post(LOGIN, json=body)
            if answer.status_code != 200:
                return _Outcome(False, f"HTTP {answer.status_code}")
            challenge = answer.json()["data"]
            if not challenge.get("mfa_required"):
                return _Outcome(False, "no MFA asked")
            step = _step()
            code = pyotp.TOTP(account.secret).at(step * STEP_S)
            account.spent_step = step
            verify = {"ticket": challenge["ticket"], "code": code}
            return _finished(await client.post(MFA_VERIFY, json=verify))
        finally:
            account.busy = False

    return flow


def _finished(answer: httpx.Response) -> _Outcome:
    """A sign-in's last answer: a token pair, or why not."""
    if answer.status_code != 200:
        return _Outcome(False, f"HTTP {answer.status_code}")
    if "access_token" not in answer.json()["data"]:
        return _Outcome(False, "no token pair")
    return _Outcome(True)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: _Outcome, seconds: float) -> None:
        self.latencies.append(seconds)
        if outcome.ok:
            self.ok += 1
        else:
            self.errors[outcome.kind] = self.errors.get(outcome.kind, 0) + 1


async def _client_load(server: Server, flow: Flow, opts: Options) -> LoadResult:
    """`flow` run by `LOGIN_CONCURRENCY` workers: a warm-up, then the measured window.
    Flows still in flight when a window closes are cancelled and not counted."""
    clocks = (server.cpu_seconds, process_time, machine_cpu_seconds)
    limits = httpx.Limits(max_connections=LOGIN_CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0, limits=limits) as client:
        if opts.warmup > 0:
            await _flows(client, flow, opts.warmup, _Tally(), clocks)
        tally = _Tally()
        window, used = await _flows(client, flow, opts.duration, tally, clocks)
    server_cpu, client_cpu, machine = used
    ordered = sorted(tally.latencies)
    return LoadResult(
        ok=tally.ok,
        errors=sum(tally.errors.values()),
        error_kinds=tally.errors,
        window_s=window,
        p50_ms=percentile_ms(ordered, 0.5),
        p90_ms=percentile_ms(ordered, 0.9),
        p99_ms=percentile_ms(ordered, 0.99),
        cpu={"client": client_cpu / window, "server": server_cpu / window},
        other_cpu=max(0.0, (machine - server_cpu - client_cpu) / window),
    )


async def _flows(
    client: httpx.AsyncClient,
    flow: Flow,
    seconds: float,
    tally: _Tally,
    clocks: Sequence[Callable[[], float]],
) -> tuple[float, list[float]]:
    """Workers run `flow` back to back for `seconds`, each completion within the window
    counted in `tally`; the window's length and what each clock advanced during it. The
    flows in flight when it closes are left to finish (uncounted), so the server has no
    backlog of them when the next window opens."""
    window_open = True

    async def worker() -> None:
        while window_open:
            started = perf_counter()
            try:
                outcome = await flow(client)
            except httpx.HTTPError as error:
                outcome = _Outcome(False, type(error).__name__)
            if window_open:
                tally.count(outcome, perf_counter() - started)

    before, started = [clock() for clock in clocks], perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(LOGIN_CONCURRENCY)]
    try:
        await asyncio.sleep(seconds)
        window = perf_counter() - started
        used = [clock() - then for clock, then in zip(clocks, before, strict=True)]
        window_open = False
        await asyncio.wait(workers, timeout=DRAIN_S)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return window, used


async def _passkey_load(
    server: Server, authenticators: Sequence[SoftAuthenticator], opts: Options
) -> tuple[LoadResult, int]:
    """wrk replaying pre-signed assertions: a warm-up batch whose rate sizes the window's
    batch; the window's result and its batch size."""
    _say(f"passkeys: fetching and signing {WARMUP_CHALLENGES} warm-up assertions")
    warmup_batch = await _assertions(server.base_url, authenticators, WARMUP_CHALLENGES)
    _say(f"passkey sign-ins: POST {PASSKEY_LOGIN_VERIFY}, warm-up")
    warm = await run_load(_wrk_spec(server, warmup_batch, opts, opts.warmup))
    pace = max(warm.rps, 1.0)
    if warm.ok >= len(warmup_batch):  # ran out: the rate is a lower bound
        pace *= 2
    size = min(MAX_CHALLENGES, math.ceil(pace * opts.duration * CHALLENGE_MARGIN) + 100)
    _say(f"passkeys: fetching and signing {size} assertions (warm-up: {warm.rps:.0f}/s)")
    batch = await _assertions(server.base_url, authenticators, size)
    _say(f"passkey sign-ins: POST {PASSKEY_LOGIN_VERIFY}, {opts.concurrency} connections")
    return await run_load(_wrk_spec(server, batch, opts, opts.duration)), size


async def _assertions(
    base_url: str, authenticators: Sequence[SoftAuthenticator], count: int
) -> list[Request]:
    """`count` login/verify requests, each over a challenge of its own, the accounts in
    turn."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:

        async def one(n: int) -> Request:
            ceremony = _data(await client.post(PASSKEY_LOGIN_OPTIONS))
            credential = authenticators[n % len(authenticators)].get(ceremony["options"])
            body = {"challenge_id": ceremony["challenge_id"], "credential": credential}
            return Request.json(PASSKEY_LOGIN_VERIFY, body)

        return await _each(range(count), one)


def _wrk_spec(
    server: Server, requests: Sequence[Request], opts: Options, seconds: float
) -> LoadSpec:
    return LoadSpec(
        url=server.base_url,
        requests=requests,
        concurrency=opts.concurrency,
        duration=seconds,
        warmup=0.0,
        cpu_clocks={"server": server.cpu_seconds},
    )


# The audit write


@dataclass(frozen=True)
class _Variant:
    case: str
    app: str


VARIANTS = (
    _Variant("with audit", "tessera.main.asgi:create"),
    _Variant("without audit (no-op AuditTrail)", "bench.tessera_without_audit:create"),
)


async def _audit(env: Mapping[str, str], scratch: Path, opts: Options) -> list[Row]:
    async with AsyncExitStack() as stack:
        servers = []
        for n, variant in enumerate(VARIANTS):
            _say(f"{variant.app}: starting (granian, one worker)")
            metrics = scratch / f"metrics-{n}"
            metrics.mkdir()
            spec = floor(
                variant.app,
                name=f"tessera-{n}",
                env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                factory=True,
            )
            servers.append(await stack.enter_async_context(serving(spec)))
        token, targets = await _admin_and_targets(servers[0].base_url)
        results: dict[int, list[LoadResult]] = {n: [] for n in range(len(VARIANTS))}
        for round_ in range(AUDIT_ROUNDS):
            order = list(range(len(VARIANTS)))
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for n in order:
                _say(f"PATCH {USERS}/{{id}}, {VARIANTS[n].case}, round {round_ + 1}")
                results[n].append(await _patch_load(servers[n], token, targets, opts))
    c = opts.concurrency
    rows = [
        Row(f"PATCH /users/{{id}} {variant.case}, c={c}", _pooled(results[n]))
        for n, variant in enumerate(VARIANTS)
    ]
    rows.append(Row("with audit / without audit", _pooled_ratio(*results.values()), ratio=True))
    return rows


async def _admin_and_targets(base_url: str) -> tuple[str, list[str]]:
    """The admin's access token and every other user's id."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        token = await _token(client, users_list.ADMIN)
        ids: list[str] = []
        page = 1
        while True:
            query = {"page": str(page), "limit": "100"}
            answer = await client.get(USERS, params=query, headers=bearer(token))
            if answer.status_code != 200:
                raise RuntimeError(f"GET {USERS} answered {answer.status_code}: {answer.text}")
            found = answer.json()["data"]
            ids += [user["user_id"] for user in found if user["email"] != users_list.ADMIN.email]
            if len(found) < 100:
                return token, ids
            page += 1


def _patches(token: str, targets: Sequence[str]) -> list[Request]:
    """Every target renamed twice, to two names no earlier list used: each request a real
    change whatever ran before (the warm-up, the other server's rounds)."""
    tag = secrets.token_hex(3)
    return [
        Request.json(
            f"{USERS}/{user_id}", {"full_name": f"Bench {tag} {turn}"}, method="PATCH", token=token
        )
        for turn in ("a", "b")
        for user_id in targets
    ]


async def _patch_load(
    server: Server, token: str, targets: Sequence[str], opts: Options
) -> LoadResult:
    if opts.warmup > 0:
        await run_load(_wrk_spec(server, _patches(token, targets), opts, opts.warmup))
    return await run_load(_wrk_spec(server, _patches(token, targets), opts, opts.duration))


def _pooled(results: Sequence[LoadResult]) -> dict[str, Figure]:
    """Rounds of one server: rates and CPU over all of them, the median p99."""
    ok = sum(r.ok for r in results)
    window = sum(r.window_s for r in results)
    server_s = sum(r.cpu["server"] * r.window_s for r in results)
    figures: dict[str, Figure] = {
        "rps": ok / window if window else None,
        "p50_ms": _median([r.p50_ms for r in results]),
        "p99_ms": _median([r.p99_ms for r in results]),
        "ok": ok,
        "errors": sum(r.errors for r in results),
        "server_cpu": server_s / window if window else None,
        "server_cpu_ms_per_req": server_s * 1000 / ok if ok else None,
        "other_cpu": _median([r.other_cpu for r in results]),
        "rounds_rps": ", ".join(f"{r.rps:.0f}" for r in results),
    }
    kinds: dict[str, int] = {}
    for result in results:
        for kind, count in result.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    if kinds:
        figures["error_kinds"] = ", ".join(f"{kind} x{count}" for kind, count in kinds.items())
    return figures


def _pooled_ratio(top: Sequence[LoadResult], bottom: Sequence[LoadResult]) -> dict[str, Figure]:
    a, b = _pooled(top), _pooled(bottom)
    keys = ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_req")
    return {key: _quotient(a[key], b[key]) for key in keys}


def _versus(top: LoadResult, bottom: LoadResult) -> dict[str, Figure]:
    return {
        "rps": _quotient(top.rps, bottom.rps),
        "p50_ms": _quotient(top.p50_ms, bottom.p50_ms),
        "p99_ms": _quotient(top.p99_ms, bottom.p99_ms),
        "server_cpu_ms_per_req": _quotient(
            top.cpu_ms_per_request("server"), bottom.cpu_ms_per_request("server")
        ),
    }


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _quotient(top: Figure, bottom: Figure) -> float | None:
    if not isinstance(top, int | float) or not isinstance(bottom, int | float) or not bottom:
        return None
    return top / bottom
