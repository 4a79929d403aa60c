"""Bearer authentication, once per HTTP request, before rate limiting and routing.

`AuthenticationMiddleware` checks the request's bearer token (a valid access token of a live
session, whose idle expiry it slides) and leaves the outcome in the ASGI scope: the caller,
or the error that refused the token. Nothing is refused here. The token is checked at once
(no I/O); the session check is started, not awaited, so the rate limiter's counter for the
user the token names goes to Redis in the same batch as it (see `SessionCallers`). Whoever
needs the outcome awaits it: the rate limiter (`SessionCallers.confirmed`) and the
`Principal` provider (`require_caller`: the caller, else the stored error, 401 or 503 when
the session store is down). The middleware itself awaits it last, so every session check
finishes even when nothing asked for its outcome.

One check serves both, so a request costs one token verification and one session read,
and the rate limiter ends up counting the session's current role, not the token's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from tessera.features.identity.application.authenticate import Authenticate
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import TokenClaims
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.http.rate_limit import Identity

CALLER_KEY = "tessera.caller"
"""The scope key of the outcome: a `Principal`, the error its token met, or, while the
session check runs, a `_SessionCheck`."""
_MISSING = "A bearer access token is required."

AuthenticateSource = Callable[[], Awaitable[Authenticate]]
Outcome = Principal | InvalidToken | DependencyUnavailable


class _SessionCheck(msgspec.Struct, frozen=True):
    """A verified token whose session is being checked."""

    claims: TokenClaims
    outcome: asyncio.Future[Outcome]
    identity: Identity
    """The user id and role the token names, as the rate limiter counts them."""


class AuthenticationMiddleware:
    """A Litestar middleware factory; the layer it returns is plain ASGI, HTTP only.

    `authenticate` is an async callable returning the (application-scoped) `Authenticate`,
    called on the first request with a bearer token and kept."""

    def __init__(self, authenticate: AuthenticateSource) -> None:
        self._get_authenticate = authenticate
        self._authenticate: Authenticate | None = None

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or (token := bearer_token(scope)) is None:
                await app(scope, receive, send)
                return
            scope[CALLER_KEY] = await self._start(token)  # type: ignore[literal-required]
            try:
                await app(scope, receive, send)
            finally:
                await _settled(scope)

        return authenticated

    async def _start(self, token: str) -> Outcome | _SessionCheck:
        authenticate = self._authenticate
        if authenticate is None:
            authenticate = self._authenticate = await self._get_authenticate()
        try:
            claims = authenticate.claims(token)
        except InvalidToken as refused:
            return refused
        check = asyncio.get_running_loop().create_task(_confirm(authenticate, claims))
        return _SessionCheck(claims, check, (str(claims.user_id), claims.role.value))


async def _confirm(authenticate: Authenticate, claims: TokenClaims) -> Outcome:
    try:
        return await authenticate.confirm(claims)
    except (InvalidToken, DependencyUnavailable) as refused:
        return refused


async def _settled(scope: Scope) -> Outcome | None:
    """The outcome of the request's authentication, once its session check has finished;
    None when the request carried no bearer token."""
    outcome: Outcome | _SessionCheck | None = scope.get(CALLER_KEY)  # type: ignore[assignment]
    if isinstance(outcome, _SessionCheck):
        outcome = scope[CALLER_KEY] = await outcome.outcome  # type: ignore[literal-required]
    return outcome


class SessionCallers:
    """The rate limiter's `Callers`: the user and role a verified token names, then the
    caller its session confirmed."""

    def claimed(self, scope: Scope) -> Identity | None:
        outcome = scope.get(CALLER_KEY)
        if isinstance(outcome, _SessionCheck):
            return outcome.identity
        return _identity(outcome)

    async def confirmed(self, scope: Scope) -> Identity | None:
        check = scope.get(CALLER_KEY)
        outcome = await _settled(scope)
        if (
            isinstance(check, _SessionCheck)
            and isinstance(outcome, Principal)
            and outcome.role is check.claims.role
            and outcome.user_id == check.claims.user_id
        ):
            return check.identity  # the usual answer: the session agrees with its token
        return _identity(outcome)


def _identity(outcome: object) -> Identity | None:
    if isinstance(outcome, Principal):
        return str(outcome.user_id), outcome.role.value
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of the first `Authorization: Bearer <token>` header; None without one."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


async def require_caller(scope: Scope) -> Principal:
    """The authenticated caller; raises what refused its token, or `InvalidToken` when the
    request carried none."""
    outcome = await _settled(scope)
    if isinstance(outcome, Principal):
        return outcome
    if isinstance(outcome, InvalidToken | DependencyUnavailable):
        raise outcome
    raise InvalidToken(_MISSING)
