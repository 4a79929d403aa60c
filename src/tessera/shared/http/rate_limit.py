"""Rate limits on HTTP requests (SPEC §3.10): which group a request falls in, and the answer.

| request | group | counted per |
|---|---|---|
| under `/api/v1/auth/`, with or without a bearer token | `auth` | client IP |
| elsewhere, by an authenticated caller, role `admin` | `admin` | user id |
| elsewhere, by an authenticated caller, any other role | `api` | user id |
| anything else (no bearer token, or one that did not authenticate) | `api` | client IP |
| `/health*`, `/schema*`, `/docs`, `/metrics`, CORS preflights (`OPTIONS`) | not limited | |

The `auth` group guards what a stranger can try (logins, registrations, reset links) and
counts by address alone: if a valid token moved a request to its user's budget, one
signed-in attacker could try passwords against other accounts, register or send reset
links at the user's larger limit (SPEC §3.12). Signed-in calls under `/auth/` (logout,
sessions, password change) spend the address's `auth` budget too.

Who the caller is elsewhere comes from `Callers`, which the authentication layer in front of
this one answers: `claimed` is who the request's token names (checked without I/O),
`confirmed` who it turned out to be once the session check finished (None when the session
has ended). The limiter counts the claimed caller straight away, so the counter goes to the
cache in the same batch as the session check instead of one round trip later; then it waits
for the confirmed caller, and if that differs (an ended session, a role changed since the
token was issued), it takes the hit back and counts the request again, as the confirmed
caller or, without one, by address. A dead token thus never spends its user's budget for
longer than a round trip. IPv6 clients are counted per /64, the block one
subscriber usually holds, so rotating addresses inside it does not reset the count.

Counting is `RateLimiter.hit`, atomic in the shared cache, so every API process together lets
exactly the limit through. Litestar's own rate-limit middleware is not used: its counting is
a read-then-write that processes race on, and it keys per middleware class, not per group.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tessera.shared.application.rate_limits import RateLimitDecision, RateLimiter, RateLimitGroup
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.errors import ErrorCode, error_response

logger = structlog.stdlib.get_logger("tessera.ratelimit")

Header = tuple[bytes, bytes]
Identity = tuple[str, str]
"""(user id, role) of the request's authenticated caller."""


class Callers(Protocol):
    """Who sent a request, as the authentication layer in front of the limiter finds out."""

    def claimed(self, scope: Scope) -> Identity | None:
        """Who the request's credentials name, before their check has finished (no I/O);
        None for an anonymous request or credentials already refused."""
        ...

    async def confirmed(self, scope: Scope) -> Identity | None:
        """Who the caller is once the check has finished; None if it did not authenticate."""
        ...


class KnownCallers:
    """`Callers` for an authentication that finishes before the limiter runs: the claimed
    caller is the confirmed one, `identify(scope)`."""

    def __init__(self, identify: Callable[[Scope], Identity | None]) -> None:
        self._identify = identify

    def claimed(self, scope: Scope) -> Identity | None:
        return self._identify(scope)

    async def confirmed(self, scope: Scope) -> Identity | None:
        return self._identify(scope)


LimiterSource = RateLimiter | Callable[[], Awaitable[RateLimiter]]

AUTH_PREFIX = "/api/v1/auth/"
UNLIMITED_PATHS = ("/health", "/schema", "/docs", "/metrics")
ADMIN_ROLES = frozenset({"admin"})
WINDOW_SECONDS = 60
WARN_EVERY_SECONDS = 60.0
_REFUSED = "Too many requests. Try again later."


class RateLimitSettings(Protocol):
    """The settings this middleware reads; `tessera.main.settings.Settings` has them all."""

    @property
    def rate_limit_enabled(self) -> bool: ...
    @property
    def rate_limit_auth_per_minute(self) -> int: ...
    @property
    def rate_limit_api_per_minute(self) -> int: ...
    @property
    def rate_limit_admin_per_minute(self) -> int: ...
    @property
    def trusted_proxies(self) -> Sequence[str]: ...


class RateLimitMiddleware:
    """Counts each limited request and refuses it with a 429 envelope over the limit.

    Fails open: when the cache is down (`DependencyUnavailable`) the request goes through
    without rate-limit headers, and a warning is logged at most once a minute per process.
    A cache outage then costs protection against floods, not the whole API; the health
    endpoints report the cache as failing meanwhile.

    A Litestar middleware factory (`__call__(app)`); the layer it returns is plain ASGI,
    for HTTP requests only, since it runs on every one of them.
    """

    def __init__(
        self,
        limiter: LimiterSource,
        settings: RateLimitSettings,
        callers: Callers | None = None,
        *,
        auth_prefix: str = AUTH_PREFIX,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = limiter if isinstance(limiter, RateLimiter) else None
        self._get_limiter = None if isinstance(limiter, RateLimiter) else limiter
        self._enabled = settings.rate_limit_enabled
        self._auth = RateLimitGroup("auth", settings.rate_limit_auth_per_minute, WINDOW_SECONDS)
        self._api = RateLimitGroup("api", settings.rate_limit_api_per_minute, WINDOW_SECONDS)
        self._admin = RateLimitGroup("admin", settings.rate_limit_admin_per_minute, WINDOW_SECONDS)
        self._clients = ClientIpResolver(settings.trusted_proxies)
        self._callers = callers
        self._auth_prefix = auth_prefix
        self._monotonic = monotonic
        self._last_warning: float | None = None

    def __call__(self, app: ASGIApp) -> ASGIApp:
        if not self._enabled:
            return app

        async def rate_limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                await self.handle(scope, receive, send, app)
            else:
                await app(scope, receive, send)

        return rate_limited

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") == "OPTIONS" or _unlimited(scope["path"]):
            await next_app(scope, receive, send)
            return
        callers = self._callers
        by_address = scope["path"].startswith(self._auth_prefix)
        claimed = None if callers is None or by_address else callers.claimed(scope)
        group, identifier = self._target(scope, claimed)
        try:
            limiter = self._limiter or await self._first_limiter()
            decision = await limiter.hit(group, identifier)
            if callers is not None and claimed is not None:
                confirmed = await callers.confirmed(scope)
                if confirmed != claimed:
                    await limiter.take_back(group, identifier)
                    group, identifier = self._target(scope, confirmed)
                    decision = await limiter.hit(group, identifier)
        except DependencyUnavailable:
            self._warn_cache_down()
            await next_app(scope, receive, send)
            return
        headers = rate_limit_headers(group, decision)
        if not decision.allowed:
            await _refuse(scope, receive, send, decision, headers)
            return
        await next_app(scope, receive, _adding_headers(send, headers))

    def _target(self, scope: Scope, caller: Identity | None) -> tuple[RateLimitGroup, str]:
        if caller is not None:
            user_id, role = caller
            return (self._admin if role in ADMIN_ROLES else self._api), user_id
        path: str = scope["path"]
        peer = scope.get("client")
        forwarded_for = _header(scope, b"x-forwarded-for")
        ip = self._clients.resolve(peer[0] if peer else None, forwarded_for)
        group = self._auth if path.startswith(self._auth_prefix) else self._api
        return group, ip_identifier(ip)

    async def _first_limiter(self) -> RateLimiter:
        assert self._get_limiter is not None
        limiter = self._limiter = await self._get_limiter()
        return limiter

    def _warn_cache_down(self) -> None:
        now = self._monotonic()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning("rate limits not enforced: the cache is unavailable")


def rate_limit_middleware(
    limiter: LimiterSource,
    settings: RateLimitSettings,
    callers: Callers | None = None,
    *,
    auth_prefix: str = AUTH_PREFIX,
) -> RateLimitMiddleware:
    """The middleware for `Litestar(middleware=[...])`; a no-op when rate limits are disabled.

    `limiter` is a `RateLimiter` or an async callable returning one (called on the first
    limited request and kept, e.g. `partial(container.get, RateLimiter)`). `callers` says
    who the request's authenticated caller is (see `Callers`); without it every request
    is counted by address.
    """
    return RateLimitMiddleware(limiter, settings, callers, auth_prefix=auth_prefix)


def rate_limit_headers(group: RateLimitGroup, decision: RateLimitDecision) -> list[Header]:
    """The seed's `X-RateLimit-*` fields and the IETF ones, as ASGI header pairs (every
    limited request sends them).

    `RateLimit-Policy` and `RateLimit` follow draft-ietf-httpapi-ratelimit-headers-10
    (September 2025; -11 keeps the syntax): Structured Field lists of items named for the
    policy, `"api";q=100;w=60` (quota, window in seconds) and `"api";r=99;t=42` (remaining,
    seconds until the quota resets). The older `limit=, remaining=, reset=` dictionary form
    of draft -07 is not sent.
    """
    name, policy = _fixed_parts(group)
    remaining = str(decision.remaining).encode()
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", remaining),
        (b"x-ratelimit-reset", str(decision.reset_at_epoch).encode()),
        (b"ratelimit-policy", policy),
        (b"ratelimit", b'"%s";r=%s;t=%d' % (name, remaining, decision.reset_after_seconds)),
    ]


@functools.cache
def _fixed_parts(group: RateLimitGroup) -> tuple[bytes, bytes]:
    """The group's name and its `RateLimit-Policy` value, encoded once."""
    policy = f'"{group.name}";q={group.limit};w={group.window_seconds}'
    return group.name.encode("latin-1"), policy.encode("latin-1")


def ip_identifier(ip: str) -> str:
    """The client IP as counted: IPv6 by its /64, IPv4 and non-addresses as they are."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


_UNLIMITED_PREFIXES = tuple(f"{p}/" for p in UNLIMITED_PATHS)


def _unlimited(path: str) -> bool:
    return path in UNLIMITED_PATHS or path.startswith(_UNLIMITED_PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name]
    return ",".join(values) if values else None


def _adding_headers(send: Send, encoded: list[Header]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *encoded]
        await send(message)

    return send_with_headers


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    decision: RateLimitDecision,
    headers: list[Header],
) -> None:
    retry_after = decision.reset_after_seconds
    response = error_response(
        ErrorCode.RATE_LIMIT_EXCEEDED,
        _REFUSED,
        details={"retry_after": retry_after},
        retry_after=retry_after,
        headers={name.decode(): value.decode() for name, value in headers}
        | {"retry-after": str(retry_after)},
    )
    request: Request[Any, Any, Any] = Request(scope)
    await response.to_asgi_response(None, request)(scope, receive, send)


__all__ = [
    "Callers",
    "Identity",
    "KnownCallers",
    "RateLimitMiddleware",
    "RateLimitSettings",
    "rate_limit_headers",
    "rate_limit_middleware",
]
