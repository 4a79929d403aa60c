"""dishka in Litestar: a container per connection, and `@inject` for handlers.

What `dishka.integrations.litestar` does, at less cost per request, since every request
pays it: its `@inject` adds a `request` parameter to each handler, so Litestar builds and
validates one more keyword argument, and finds the container through `request.state`
(a `State` built on each access). Here the connection's container is also kept in a
context variable, which the injected handler reads: a handler keeps exactly the
parameters it declares.

- `setup_di(container, app)` wraps the app: each HTTP request gets a REQUEST-scope
  container, each WebSocket a SESSION-scope one, closed when the connection ends. A
  request's context is its ASGI scope (`ConnectionScope`, provided by
  `ConnectionProvider`), not a `Request`, which no provider needs and every request would
  pay for. The container is also at `connection.state.dishka_container`, for guards and
  WebSocket handlers, as with dishka's integration.
- SESSION scope means a WebSocket connection. dishka puts that level between APP and
  REQUEST, so HTTP requests open theirs from one SESSION-level container they all share,
  opened on the first request and closed at shutdown, instead of building and closing a
  SESSION level around every request (a sizeable part of a request's cost under load). An
  HTTP request must therefore not depend on anything SESSION-scoped
  (`tests/unit/main/test_request_scopes.py` fails if one does).
- `inject` marks a handler whose `FromDishka[...]` parameters come from that container.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NewType, ParamSpec, TypeVar

from dishka import AsyncContainer, FromDishka, Provider, from_context
from dishka import Scope as DIScope
from dishka.integrations.base import wrap_injection
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

P = ParamSpec("P")
T = TypeVar("T")

STATE_KEY = "dishka_container"
ConnectionScope = NewType("ConnectionScope", dict[str, Any])
"""The ASGI scope of the HTTP request a REQUEST container serves."""
_connection_container: ContextVar[AsyncContainer] = ContextVar("dishka_connection_container")


def setup_di(container: AsyncContainer, app: Litestar) -> None:
    per_connection = ContainerPerConnection(app.asgi_handler, container)
    app.asgi_handler = per_connection
    app.on_shutdown.insert(0, per_connection.close)  # before the container itself closes
    app.state.dishka_container = container


class ContainerPerConnection:
    """The ASGI layer that opens and closes each connection's container."""

    def __init__(self, app: ASGIApp, container: AsyncContainer) -> None:
        self._app = app
        self._container = container
        self._requests: AsyncContainer | None = None
        """The SESSION level every HTTP request's container is opened from."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind: str = scope["type"]  # lifespan too, which Litestar's `Scope` type leaves out
        if kind == ScopeType.HTTP:
            requests = self._requests
            if requests is None:
                requests = self._requests = self._container(scope=DIScope.SESSION)
            opened = requests({ConnectionScope: scope})
        elif kind == ScopeType.WEBSOCKET:
            opened = self._container(scope=DIScope.SESSION)
        else:
            await self._app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        async with opened as connection_container:
            state[STATE_KEY] = connection_container
            token = _connection_container.set(connection_container)
            try:
                await self._app(scope, receive, send)
            finally:
                _connection_container.reset(token)
                # The container's context holds the scope: without this the pair would be
                # a reference cycle, which only the garbage collector frees.
                del state[STATE_KEY]

    async def close(self) -> None:
        """Closes the SESSION level the HTTP requests shared (at shutdown)."""
        if self._requests is not None:
            await self._requests.close()
            self._requests = None


class ConnectionProvider(Provider):
    """`ConnectionScope` in each HTTP request's container."""

    connection = from_context(provides=ConnectionScope, scope=DIScope.REQUEST)


def inject(func: Callable[P, T]) -> Callable[P, T]:
    """A handler whose `FromDishka[...]` parameters are resolved from the container of the
    connection it serves."""
    return wrap_injection(func=func, is_async=True, container_getter=_current_container)


def _current_container(_args: Any, _kwargs: Any) -> AsyncContainer:
    try:
        return _connection_container.get()
    except LookupError:
        raise RuntimeError("No dishka container: is the app wrapped with setup_di?") from None


__all__ = ["ConnectionProvider", "ConnectionScope", "FromDishka", "inject", "setup_di"]
