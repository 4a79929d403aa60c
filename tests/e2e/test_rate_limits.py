"""Rate limits over HTTP (SPEC §3.10): groups, keys, headers, the 429 envelope, proxies.

The app is built here around the real middleware, the shared error handlers and
`EdgeMiddleware`, with probe routes standing in for login and an API endpoint. The peer
address of each request comes from a test-only `x-test-peer` header, as if it had
connected from there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from litestar import Litestar, Request, get, post
from litestar.exceptions import HTTPException
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from tessera.main.settings import Settings
from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.callers import Admission
from tessera.shared.application.ports import Counter
from tessera.shared.application.rate_limits import RateLimiter, RoleLimits
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import DependencyUnavailable, DomainError, Unauthenticated
from tessera.shared.http.caller import CallerMiddleware, require_caller
from tessera.shared.http.edge import EdgeMiddleware, security_headers
from tessera.shared.http.errors import (
    DOMAIN_ERROR_CODES,
    DomainErrorHandler,
    http_exception_handler,
    unhandled_exception_handler,
)
from tests.e2e.harness import settings_for

TENANT = uuid.uuid4()
SERVED: list[str] = []


class Sessions:
    """Stands in for identity's `Authenticate`: each listed bearer token names a live
    session, whose user and current role are in `live`; anything else is refused. A
    counting admission counts the user in the group of that role, as the session check
    does (here in the limiter's memory)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.live = {
            "token-ann": ("user-ann", Role.USER),
            "token-bob": ("user-bob", Role.TENANT_ADMIN),
        }
        self.live["token-root"] = ("user-root", Role.ADMIN)
        self.admitted: list[str] = []
        self._limiter = limiter

    async def admit(self, access_token: str, *, count_in: RoleLimits | None) -> Admission:
        self.admitted.append(access_token)
        if access_token not in self.live:
            raise Unauthenticated("The token is invalid or has expired.")
        user, role = self.live[access_token]
        caller = Principal(uuid.uuid5(uuid.NAMESPACE_URL, user), TENANT, role, uuid.uuid4())
        if count_in is None:
            return Admission(caller)
        return Admission(caller, await self._limiter.hit(count_in.group_for(role), user))


@post("/api/v1/auth/login")
async def login() -> dict[str, str]:
    SERVED.append("login")
    return {"access_token": "token-ann"}


@get("/api/v1/probe")
async def probe() -> dict[str, str]:
    SERVED.append("probe")
    return {"ok": "yes"}


@get("/api/v1/whoami")
async def whoami(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A route that needs a caller."""
    return {"user_id": str(require_caller(request.scope).user_id)}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


class PeerFromHeader:
    """Test-only: the TCP peer is whatever `x-test-peer` says (else Litestar's default)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", []):
            if name == b"x-test-peer":
                scope["client"] = (value.decode(), 40000)
        await self._app(scope, receive, send)


def build_app(
    settings: Settings, limiter: RateLimiter, sessions: Sessions | None = None
) -> Litestar:
    async def the_limiter() -> RateLimiter:
        return limiter

    async def the_sessions() -> Sessions:
        return sessions or Sessions(limiter)

    app = Litestar(
        route_handlers=[login, probe, whoami, health],
        middleware=[CallerMiddleware(the_sessions, the_limiter, settings)],
        exception_handlers={
            DomainError: DomainErrorHandler(DOMAIN_ERROR_CODES),
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
        logging_config=None,
    )
    app.asgi_handler = EdgeMiddleware(
        PeerFromHeader(app.asgi_handler),
        headers=security_headers(production=False),
        max_body_bytes=1024 * 1024,
    )
    return app


def limits(**env: str) -> Settings:
    env = {
        "rate_limit_auth_per_minute": "10",
        "rate_limit_api_per_minute": "5",
        "rate_limit_admin_per_minute": "8",
        "trusted_proxies": "10.0.0.0/8",
    } | env
    return settings_for(**env)


def memory_limiter() -> RateLimiter:
    return RateLimiter(InMemoryCache(), SystemClock())


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Any]]:
    SERVED.clear()
    async with AsyncTestClient(build_app(limits(), memory_limiter())) as test_client:
        yield test_client


def from_peer(peer: str, **headers: str) -> dict[str, str]:
    return {"x-test-peer": peer} | {k.replace("_", "-"): v for k, v in headers.items()}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-test-peer": "198.51.100.1"}


async def statuses(count: int, call: Callable[[], Any]) -> list[int]:
    return [(await call()).status_code for _ in range(count)]


async def test_the_eleventh_login_in_a_minute_is_refused_with_429(
    client: AsyncTestClient[Any],
) -> None:
    headers = from_peer("203.0.113.9")
    for _ in range(10):
        assert (await client.post("/api/v1/auth/login", headers=headers)).status_code == 201
    refused = await client.post("/api/v1/auth/login", headers=headers)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 55 <= retry_after <= 60
    body = refused.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert body["error"]["retry_after"] == retry_after
    assert body["error"]["details"] == {"retry_after": retry_after}
    assert body["meta"]["request_id"] == refused.headers["x-request-id"]
    assert refused.headers["x-ratelimit-limit"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit"] == f'"auth";r=0;t={retry_after}'
    assert SERVED.count("login") == 10  # the refused one never reached the handler


async def test_allowed_responses_carry_the_rate_limit_headers(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.post("/api/v1/auth/login", headers=from_peer("203.0.113.9"))
    assert response.status_code == 201
    assert response.headers["x-ratelimit-limit"] == "10"
    assert response.headers["x-ratelimit-remaining"] == "9"
    reset = int(response.headers["x-ratelimit-reset"])
    assert abs(reset - (datetime.now(UTC).timestamp() + 60)) <= 2
    assert response.headers["ratelimit-policy"] == '"auth";q=10;w=60'
    assert response.headers["ratelimit"] == '"auth";r=9;t=60'
    assert "retry-after" not in response.headers


async def test_each_ip_has_its_own_login_budget(client: AsyncTestClient[Any]) -> None:
    first = from_peer("203.0.113.9")
    codes = await statuses(10, lambda: client.post("/api/v1/auth/login", headers=first))
    assert codes == [201] * 10
    refused = await client.post("/api/v1/auth/login", headers=first)
    other = await client.post("/api/v1/auth/login", headers=from_peer("203.0.113.10"))
    assert (refused.status_code, other.status_code) == (429, 201)
    assert other.headers["x-ratelimit-remaining"] == "9"


async def test_ipv6_clients_are_counted_per_64_block(client: AsyncTestClient[Any]) -> None:
    for i in range(10):
        response = await client.post("/api/v1/auth/login", headers=from_peer(f"2001:db8:1::{i}"))
        assert response.status_code == 201
    refused = await client.post("/api/v1/auth/login", headers=from_peer("2001:db8:1::abcd"))
    elsewhere = await client.post("/api/v1/auth/login", headers=from_peer("2001:db8:2::1"))
    assert (refused.status_code, elsewhere.status_code) == (429, 201)


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    client: AsyncTestClient[Any],
) -> None:
    codes = [
        (
            await client.post(
                "/api/v1/auth/login",
                headers=from_peer("198.51.100.1", x_forwarded_for=f"203.0.113.{i}"),
            )
        ).status_code
        for i in range(11)
    ]
    assert codes == [201] * 10 + [429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    client: AsyncTestClient[Any],
) -> None:
    for i in range(11):  # one proxy, eleven different clients: nobody is refused
        headers = from_peer("10.0.0.2", x_forwarded_for=f"203.0.113.{i}")
        assert (await client.post("/api/v1/auth/login", headers=headers)).status_code == 201
    # One client through two of our proxies is one client.
    for proxy in ["10.0.0.2", "10.0.0.3"] * 5:
        headers = from_peer(proxy, x_forwarded_for="198.51.100.50")
        assert (await client.post("/api/v1/auth/login", headers=headers)).status_code == 201
    headers = from_peer("10.0.0.3", x_forwarded_for="198.51.100.50")
    assert (await client.post("/api/v1/auth/login", headers=headers)).status_code == 429


async def test_authenticated_requests_are_counted_per_user(client: AsyncTestClient[Any]) -> None:
    codes = await statuses(6, lambda: client.get("/api/v1/probe", headers=bearer("token-ann")))
    assert codes == [200] * 5 + [429]
    # Same address, another user: a budget of their own.
    other = await client.get("/api/v1/probe", headers=bearer("token-bob"))
    assert other.status_code == 200
    assert other.headers["ratelimit-policy"] == '"api";q=5;w=60'
    assert other.headers["x-ratelimit-remaining"] == "4"


async def test_an_admin_gets_the_admin_limit(client: AsyncTestClient[Any]) -> None:
    async def call() -> Any:
        return await client.get("/api/v1/probe", headers=bearer("token-root"))

    first = await call()
    assert first.headers["x-ratelimit-limit"] == "8"
    assert first.headers["ratelimit-policy"] == '"admin";q=8;w=60'
    assert await statuses(8, call) == [200] * 7 + [429]


async def test_a_valid_bearer_does_not_lift_the_auth_limit(client: AsyncTestClient[Any]) -> None:
    """SPEC §3.12: `/auth/*` is counted per address whatever bearer comes with it, so a
    signed-in attacker tries passwords, registers and sends reset links no faster than
    anyone (it used to spend the user's larger `api` budget instead)."""
    codes = [  # every request from 198.51.100.1
        (await client.post("/api/v1/auth/login", headers=bearer(token))).status_code
        for token in ["token-ann"] * 3 + ["token-root"] * 3 + ["token-bob"] * 6
    ]
    assert codes == [201] * 10 + [429] * 2
    refused = await client.post("/api/v1/auth/login", headers=bearer("token-bob"))
    assert refused.headers["ratelimit-policy"] == '"auth";q=10;w=60'
    elsewhere = await client.post("/api/v1/auth/login", headers=from_peer("203.0.113.10"))
    assert elsewhere.status_code == 201, "another address has its own budget"
    probe = await client.get("/api/v1/probe", headers=bearer("token-ann"))
    assert probe.headers["ratelimit"] == '"api";r=4;t=60', "the user's own budget is untouched"


async def test_a_made_up_bearer_does_not_escape_the_login_limit(
    client: AsyncTestClient[Any],
) -> None:
    headers = from_peer("203.0.113.9", authorization="Bearer forged")
    codes = await statuses(11, lambda: client.post("/api/v1/auth/login", headers=headers))
    assert codes == [201] * 10 + [429]


async def test_anonymous_api_requests_are_counted_per_ip(client: AsyncTestClient[Any]) -> None:
    headers = from_peer("203.0.113.9", authorization="Bearer forged")
    codes = await statuses(6, lambda: client.get("/api/v1/probe", headers=headers))
    assert codes == [200] * 5 + [429]
    other = await client.get("/api/v1/probe", headers=from_peer("203.0.113.10"))
    assert other.headers["ratelimit"] == '"api";r=4;t=60'


async def test_health_is_never_limited(client: AsyncTestClient[Any]) -> None:
    codes = await statuses(30, lambda: client.get("/health", headers=from_peer("1.2.3.4")))
    assert codes == [200] * 30
    assert "x-ratelimit-limit" not in (await client.get("/health")).headers


async def test_nothing_is_limited_when_rate_limits_are_disabled() -> None:
    app = build_app(limits(rate_limit_enabled="false"), memory_limiter())
    async with AsyncTestClient(app) as client:
        headers = from_peer("203.0.113.9")
        codes = await statuses(15, lambda: client.post("/api/v1/auth/login", headers=headers))
        response = await client.post("/api/v1/auth/login", headers=headers)
        ann = await client.get("/api/v1/whoami", headers=bearer("token-ann"))
    assert codes == [201] * 15
    assert "x-ratelimit-limit" not in response.headers
    assert ann.status_code == 200, "callers are still authenticated"
    assert "x-ratelimit-limit" not in ann.headers


class DownCache(InMemoryCache):
    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        raise DependencyUnavailable("The cache is unavailable.")


async def test_requests_go_through_when_the_cache_is_down_with_one_warning() -> None:
    app = build_app(limits(), RateLimiter(DownCache(), SystemClock()))
    async with AsyncTestClient(app) as client:
        headers = from_peer("203.0.113.9")
        with structlog.testing.capture_logs() as logs:
            codes = await statuses(12, lambda: client.post("/api/v1/auth/login", headers=headers))
            response = await client.post("/api/v1/auth/login", headers=headers)
    assert codes == [201] * 12
    assert "x-ratelimit-limit" not in response.headers
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["rate limits not enforced: the cache is unavailable"]


async def test_a_role_changed_since_the_token_counts_in_the_current_roles_group() -> None:
    limiter = memory_limiter()
    sessions = Sessions(limiter)
    async with AsyncTestClient(build_app(limits(), limiter, sessions)) as client:
        ann = bearer("token-ann")
        first = await client.get("/api/v1/probe", headers=ann)
        assert first.headers["ratelimit"] == '"api";r=4;t=60'
        sessions.live["token-ann"] = ("user-ann", Role.ADMIN)  # promoted meanwhile
        promoted = await client.get("/api/v1/probe", headers=ann)
        assert promoted.headers["ratelimit"] == '"admin";r=7;t=60', "as the admin it is now"
        sessions.live["token-ann"] = ("user-ann", Role.USER)
        again = await client.get("/api/v1/probe", headers=ann)
        assert again.headers["ratelimit"] == '"api";r=3;t=60', "each request counted once"


async def test_a_dead_token_never_spends_its_users_budget() -> None:
    limiter = memory_limiter()
    sessions = Sessions(limiter)
    async with AsyncTestClient(build_app(limits(), limiter, sessions)) as client:
        ann = bearer("token-ann")
        assert (await client.get("/api/v1/probe", headers=ann)).status_code == 200
        del sessions.live["token-ann"]  # the session ended (logout, revocation, ...)
        for remaining in ("4", "3"):
            gone = await client.get("/api/v1/whoami", headers=ann)
            assert gone.status_code == 401
            assert gone.headers["ratelimit"] == f'"api";r={remaining};t=60', "by address"
        sessions.live["token-ann"] = ("user-ann", Role.USER)  # signed in again
        back = await client.get("/api/v1/probe", headers=ann)
        assert back.headers["ratelimit"] == '"api";r=3;t=60', "ann's second request"


async def test_each_request_asks_for_its_caller_once() -> None:
    limiter = memory_limiter()
    sessions = Sessions(limiter)
    async with AsyncTestClient(build_app(limits(), limiter, sessions)) as client:
        whoami = await client.get("/api/v1/whoami", headers=bearer("token-bob"))
        await client.get("/health", headers=bearer("token-root"))
        await client.get("/api/v1/probe", headers=from_peer("203.0.113.9"))
    assert whoami.json() == {"user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "user-bob"))}
    assert sessions.admitted == ["token-bob", "token-root"], "no token, no authentication"


class DownSessions(Sessions):
    async def admit(self, access_token: str, *, count_in: RoleLimits | None) -> Admission:
        self.admitted.append(access_token)
        raise DependencyUnavailable("The cache is unavailable.")


class CountingCache(InMemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.increments = 0

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        self.increments += 1
        return await super().increment(key, window_seconds=window_seconds, amount=amount)


async def test_a_session_store_down_is_503_for_the_caller_and_no_rate_limit() -> None:
    """The cache holds sessions and counters alike: when the session check finds it down,
    the request is not counted (fail open, one warning) and a route that needs the caller
    answers 503, without waiting on the cache a second time."""
    cache = CountingCache()
    limiter = RateLimiter(cache, SystemClock())
    async with AsyncTestClient(build_app(limits(), limiter, DownSessions(limiter))) as client:
        with structlog.testing.capture_logs() as logs:
            refused = [
                await client.get("/api/v1/whoami", headers=bearer("token-ann")) for _ in range(7)
            ]
        public = await client.get("/api/v1/probe", headers=bearer("token-ann"))
    assert {r.status_code for r in refused} == {503}
    assert refused[0].json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "retry-after" in refused[0].headers
    assert "x-ratelimit-limit" not in refused[0].headers
    assert public.status_code == 200, "a route that needs no caller still serves"
    assert cache.increments == 0
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["rate limits not enforced: the cache is unavailable"]
