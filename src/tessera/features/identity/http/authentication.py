"""Bearer authentication, once per HTTP request, before rate limiting and routing.

`AuthenticationMiddleware` runs `Authenticate` on the request's bearer token (a valid access
token of a live session, whose idle expiry it slides) and leaves the outcome in the ASGI
scope: the caller, or the error that refused the token. Nothing is refused here. The rate
limiter reads the caller (`caller_of`) to count the request against the user; a handler
that needs a caller asks for `Principal`, whose provider calls `require_caller`: the
caller, else the stored error (401, or 503 when the session store is down).

One check serves both, so a request costs one token verification and one session read,
and the rate limiter sees the session's current role, not the one the token was issued with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from tessera.features.identity.application.authenticate import Authenticate
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import Principal
from tessera.shared.domain.errors import DependencyUnavailable

CALLER_KEY = "tessera.caller"
"""The scope key of the outcome: a `Principal`, or the error its token met."""
_MISSING = "A bearer access token is required."

AuthenticateSource = Callable[[], Awaitable[Authenticate]]


class AuthenticationMiddleware:
    """A Litestar middleware factory; the layer it returns is plain ASGI, HTTP only.

    `authenticate` is an async callable returning the (application-scoped) `Authenticate`,
    called on the first request with a bearer token and kept."""

    def __init__(self, authenticate: AuthenticateSource) -> None:
        self._get_authenticate = authenticate
        self._authenticate: Authenticate | None = None

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and (token := bearer_token(scope)) is not None:
                scope[CALLER_KEY] = await self._outcome(token)  # type: ignore[literal-required]
            await app(scope, receive, send)

        return authenticated

    async def _outcome(self, token: str) -> Principal | InvalidToken | DependencyUnavailable:
        authenticate = self._authenticate
        if authenticate is None:
            authenticate = self._authenticate = await self._get_authenticate()
        try:
            return await authenticate.execute(token)
        except (InvalidToken, DependencyUnavailable) as refused:
            return refused


def bearer_token(scope: Scope) -> str | None:
    """The token of the first `Authorization: Bearer <token>` header; None without one."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def caller_of(scope: Scope) -> Principal | None:
    """The authenticated caller of the request, or None (anonymous, or refused)."""
    outcome = scope.get(CALLER_KEY)
    return outcome if isinstance(outcome, Principal) else None


def require_caller(scope: Scope) -> Principal:
    """The authenticated caller; raises what refused its token, or `InvalidToken` when the
    request carried none."""
    outcome = scope.get(CALLER_KEY)
    if isinstance(outcome, Principal):
        return outcome
    if isinstance(outcome, InvalidToken | DependencyUnavailable):
        raise outcome
    raise InvalidToken(_MISSING)
