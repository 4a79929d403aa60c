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

`CallerMiddleware` (`shared/http/caller.py`) counts each limited request exactly once.
An authenticated caller is counted by the session check itself: one server-side step finds
the session alive, reads its current role and counts the request in that role's group, so
a role changed since the token was issued counts in the new group, and a token whose
session has ended counts nowhere against its user (the request is then anonymous and
counted by address). Everything else is counted by address with `RateLimiter.hit`. IPv6
clients are counted per /64, the block one subscriber usually holds, so rotating addresses
inside it does not reset the count.

Both counts are atomic in the shared cache, so every API process together lets exactly the
limit through. Litestar's own rate-limit middleware is not used: its counting is a
read-then-write that processes race on, and it keys per middleware class, not per group.
When the cache is down the request goes through unlimited (see `CacheDownWarning`).
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from litestar import Request
from litestar.types import Message, Receive, Scope, Send

from tessera.shared.application.rate_limits import RateLimitDecision, RateLimitGroup, RoleLimits
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.errors import ErrorCode, error_response

logger = structlog.stdlib.get_logger("tessera.ratelimit")

Header = tuple[bytes, bytes]

AUTH_PREFIX = "/api/v1/auth/"
UNLIMITED_PATHS = ("/health", "/schema", "/docs", "/metrics")
WINDOW_SECONDS = 60
WARN_EVERY_SECONDS = 60.0
_REFUSED = "Too many requests. Try again later."


class RateLimitSettings(Protocol):
    """The settings rate limiting reads; `tessera.main.settings.Settings` has them all."""

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


class RateLimits:
    """The table above, from the settings: whether a request is limited, and in which
    group and under which identifier it is counted."""

    def __init__(self, settings: RateLimitSettings, *, auth_prefix: str = AUTH_PREFIX) -> None:
        self.enabled = settings.rate_limit_enabled
        self.auth = RateLimitGroup("auth", settings.rate_limit_auth_per_minute, WINDOW_SECONDS)
        api = RateLimitGroup("api", settings.rate_limit_api_per_minute, WINDOW_SECONDS)
        admin = RateLimitGroup("admin", settings.rate_limit_admin_per_minute, WINDOW_SECONDS)
        self.by_role = RoleLimits(api=api, admin=admin)
        self._clients = ClientIpResolver(settings.trusted_proxies)
        self._auth_prefix = auth_prefix

    def limited(self, scope: Scope) -> bool:
        return self.enabled and scope.get("method") != "OPTIONS" and not _unlimited(scope["path"])

    def per_user(self, scope: Scope) -> RoleLimits | None:
        """The groups an authenticated caller of this limited request is counted in; None
        when it is counted by address whoever sends it (`/auth/`)."""
        return None if scope["path"].startswith(self._auth_prefix) else self.by_role

    def by_address(self, scope: Scope) -> tuple[RateLimitGroup, str]:
        """The group and identifier of a request counted by its client's address."""
        path: str = scope["path"]
        peer = scope.get("client")
        forwarded_for = _header(scope, b"x-forwarded-for")
        ip = self._clients.resolve(peer[0] if peer else None, forwarded_for)
        group = self.auth if path.startswith(self._auth_prefix) else self.by_role.api
        return group, ip_identifier(ip)


class CacheDownWarning:
    """Rate limits fail open: while the cache is down requests go through without
    rate-limit headers, and this warns at most once a minute per process. A cache outage
    then costs protection against floods, not the whole API; the health endpoints report
    the cache as failing meanwhile."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._last: float | None = None

    def __call__(self) -> None:
        now = self._monotonic()
        if self._last is None or now - self._last >= WARN_EVERY_SECONDS:
            self._last = now
            logger.warning("rate limits not enforced: the cache is unavailable")


def rate_limit_headers(decision: RateLimitDecision) -> list[Header]:
    """The seed's `X-RateLimit-*` fields and the IETF ones, as ASGI header pairs (every
    limited request sends them).

    `RateLimit-Policy` and `RateLimit` follow draft-ietf-httpapi-ratelimit-headers-10
    (September 2025; -11 keeps the syntax): Structured Field lists of items named for the
    policy, `"api";q=100;w=60` (quota, window in seconds) and `"api";r=99;t=42` (remaining,
    seconds until the quota resets). The older `limit=, remaining=, reset=` dictionary form
    of draft -07 is not sent.
    """
    name, policy = _fixed_parts(decision.group)
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


def adding_headers(send: Send, decision: RateLimitDecision) -> Send:
    """`send` with the decision's rate-limit headers added to the response."""
    encoded = rate_limit_headers(decision)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *encoded]
        await send(message)

    return send_with_headers


async def refuse(scope: Scope, receive: Receive, send: Send, decision: RateLimitDecision) -> None:
    """The 429 envelope of a refused request, with its rate-limit headers and Retry-After."""
    headers = rate_limit_headers(decision)
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
    "CacheDownWarning",
    "RateLimitSettings",
    "RateLimits",
    "adding_headers",
    "rate_limit_headers",
    "refuse",
]
