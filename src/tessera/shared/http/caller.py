"""Who is calling, and whether they may: settled once per HTTP request, before routing.

`CallerMiddleware` runs in front of every route. For a request with an
`Authorization: Bearer` token it asks the `Authenticator` once, and that one call (one
Redis round trip in production) both checks the token's session (sliding its idle expiry)
and, when the request is limited per user, counts it in the group of the session's current
role, and brings the caller's cached profile along. It then leaves ONE value in the ASGI
scope under `CALLER_KEY`: the `Admission` (the `Principal` and what came with it), the
error that refused the token (401, or 503 when the session store is down), or nothing
without a token. A request not counted that way (anonymous, refused token, `/auth/`) is
counted by address (`RateLimits`, `rate_limit.py`). Nothing is refused for its token
here: routes that need a caller ask for one (`require_caller`, behind the `Principal`
provider); others serve anyone. Over the limit, the 429 envelope answers instead of the
route.

A session marked as needing MFA enrolment (its tenant requires two-factor sign-in and the
user has none) is a caller only on routes whose handler says so with
`opt={OPEN_DURING_MFA_ENROLMENT: True}` (setting up TOTP, `GET /users/me`, logout); on any
other, the value left is `MfaEnrolmentRequired` (403), raised by `require_caller`. The mark
comes with the session touch: no extra round trip.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from tessera.shared.application.callers import Admission, Authenticator
from tessera.shared.application.rate_limits import RateLimitDecision, RateLimiter, RoleLimits
from tessera.shared.domain.caller import MfaEnrolmentRequired, Principal
from tessera.shared.domain.errors import DependencyUnavailable, Unauthenticated
from tessera.shared.http.rate_limit import (
    CacheDownWarning,
    RateLimits,
    RateLimitSettings,
    adding_headers,
    refuse,
)

CALLER_KEY = "tessera.caller"
"""The scope key of the request's caller: an `Admission`, the error that refused its token,
or absent without a bearer token."""
_MISSING = "A bearer access token is required."
OPEN_DURING_MFA_ENROLMENT = "open_during_mfa_enrolment"
"""The `opt` key of a route that serves a caller whose session still needs MFA enrolment."""
READS_CALLER = "reads_caller"
"""The `opt` key of a handler that reads its caller from the scope (`require_caller`) rather
than taking a `Principal`: it needs the bearer token all the same, and the OpenAPI document
says so."""

Caller = Admission | Unauthenticated | DependencyUnavailable | MfaEnrolmentRequired | None
T = TypeVar("T")


class _FirstUse(Generic[T]):
    """An application-scoped object made by an async factory on its first use, then kept."""

    def __init__(self, make: Callable[[], Awaitable[T]]) -> None:
        self._make = make
        self._made: T | None = None

    async def get(self) -> T:
        if self._made is None:
            self._made = await self._make()
        return self._made


class CallerMiddleware:
    """A Litestar middleware factory; the layer it returns is plain ASGI, HTTP only.

    `authenticator` and `limiter` are async callables returning the application-scoped
    objects (e.g. `partial(container.get, RateLimiter)`), called on first use and kept;
    without an `authenticator` every request is anonymous."""

    def __init__(
        self,
        authenticator: Callable[[], Awaitable[Authenticator]] | None,
        limiter: Callable[[], Awaitable[RateLimiter]],
        settings: RateLimitSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._authenticator = None if authenticator is None else _FirstUse(authenticator)
        self._limiter = _FirstUse(limiter)
        self._limits = RateLimits(settings)
        self._cache_down = CacheDownWarning(monotonic)

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def caller_settled(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                await self.handle(scope, receive, send, app)
            else:
                await app(scope, receive, send)

        return caller_settled

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        limited = self._limits.limited(scope)
        caller, counted = await self._admit(
            scope, self._limits.per_user(scope) if limited else None
        )
        scope[CALLER_KEY] = caller  # type: ignore[literal-required]
        if limited and counted is None:
            counted = await self._count_by_address(scope, caller)
        if counted is None:  # not limited, or the cache is down
            await next_app(scope, receive, send)
        elif counted.allowed:
            await next_app(scope, receive, adding_headers(send, counted))
        else:
            await refuse(scope, receive, send, counted)

    async def _admit(
        self, scope: Scope, count_in: RoleLimits | None
    ) -> tuple[Caller, RateLimitDecision | None]:
        """The request's caller, and its hit when the authentication counted it."""
        token = bearer_token(scope)
        if token is None or self._authenticator is None:
            return None, None
        authenticator = await self._authenticator.get()
        try:
            admission = await authenticator.admit(token, count_in=count_in)
        except (Unauthenticated, DependencyUnavailable) as refused:
            return refused, None
        if admission.caller.needs_mfa_enrolment and not _open_during_enrolment(scope):
            return MfaEnrolmentRequired(), admission.counted
        return admission, admission.counted

    async def _count_by_address(self, scope: Scope, caller: Caller) -> RateLimitDecision | None:
        """The request's hit on its address's budget; None when the cache is down (the
        session check that just failed says so without another try)."""
        if not isinstance(caller, DependencyUnavailable):
            limiter = await self._limiter.get()
            try:
                return await limiter.hit(*self._limits.by_address(scope))
            except DependencyUnavailable:
                pass
        self._cache_down()
        return None


def _open_during_enrolment(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return handler is not None and bool(handler.opt.get(OPEN_DURING_MFA_ENROLMENT))


def bearer_token(scope: Scope) -> str | None:
    """The token of the first `Authorization: Bearer <token>` header; None without one."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def caller_of(scope: Scope) -> Principal | None:
    """The request's authenticated caller; None when it has none."""
    caller = scope.get(CALLER_KEY)
    return caller.caller if isinstance(caller, Admission) else None


def require_caller(scope: Scope) -> Principal:
    """The request's authenticated caller; raises what refused its token (`Unauthenticated`,
    `DependencyUnavailable` when the session store is down, `MfaEnrolmentRequired`), or
    `Unauthenticated` when the request carried none."""
    caller = scope.get(CALLER_KEY)
    if isinstance(caller, Admission):
        return caller.caller
    if isinstance(caller, Unauthenticated | DependencyUnavailable | MfaEnrolmentRequired):
        raise caller
    raise Unauthenticated(_MISSING)


def cached_profile(scope: Scope) -> bytes | None:
    """The authenticated caller's cached profile, read with its session; None without one."""
    caller = scope.get(CALLER_KEY)
    return caller.profile if isinstance(caller, Admission) else None


__all__ = [
    "CALLER_KEY",
    "OPEN_DURING_MFA_ENROLMENT",
    "READS_CALLER",
    "CallerMiddleware",
    "bearer_token",
    "cached_profile",
    "caller_of",
    "require_caller",
]
