"""dishka in Litestar: a container per connection, and `@inject` for handlers.

What `dishka.integrations.litestar` does, at less cost per request, since every request
pays it: its `@inject` adds a `request` parameter to each handler, so Litestar builds and
validates one more keyword argument, and finds the container through `request.state`
(a `State` built on each access). Here the connection's container is kept in a context
variable, which the injected handler reads: a handler keeps exactly the parameters it
declares.

- `setup_di(container, app)` wraps the app: each HTTP request gets a REQUEST-scope
  container, opened on its first use (a request that resolves nothing request-scoped
  builds none), each WebSocket a SESSION-scope one; both are closed when the connection
  ends. A request's context is its ASGI scope (`ConnectionScope`, provided by
  `ConnectionProvider`), not a `Request`, which no provider needs and every request would
  pay for. Guards and WebSocket handlers reach it with `connection_container()`.
- SESSION scope means a WebSocket connection. dishka puts that level between APP and
  REQUEST, so HTTP requests open theirs from one SESSION-level container they all share,
  opened on the first request and closed at shutdown, instead of building and closing a
  SESSION level around every request (a sizeable part of a request's cost under load). An
  HTTP request must therefore not depend on anything SESSION-scoped
  (`tests/unit/main/test_request_scopes.py` fails if one does).
- `inject` marks a handler whose `FromDishka[...]` parameters come from that container;
  `inject_app_scoped` one whose parameters are all application-scoped, resolved from the
  application's container without opening the request's (the same test fails if one of
  them asks for anything else).
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

APP_SCOPED = "__tessera_app_scoped__"
"""Set on a handler `inject_app_scoped` made."""
ConnectionScope = NewType("ConnectionScope", dict[str, Any])
"""The ASGI scope of the HTTP request a REQUEST container serves."""
_connection_container: ContextVar[_Container] = ContextVar("dishka_connection_container")


def setup_di(container: AsyncContainer, app: Litestar) -> None:
    per_connection = ContainerPerConnection(app.asgi_handler, container)
    app.asgi_handler = per_connection
    app.on_shutdown.insert(0, per_connection.close)  # before the container itself closes
    app.state.dishka_container = container


class _Container:
    """A connection's container, opened on first use: a request that resolves nothing
    request-scoped builds none."""

    __slots__ = ("_level", "_opened", "_parent", "app", "scope")

    def __init__(
        self, app: AsyncContainer, parent: AsyncContainer, level: DIScope, scope: Scope
    ) -> None:
        self.app = app
        """The application's container."""
        self.scope = scope
        """The connection's ASGI scope."""
        self._parent, self._level = parent, level
        self._opened: AsyncContainer | None = None

    def get(self) -> AsyncContainer:
        opened = self._opened
        if opened is None:
            # A request's context is its scope; a WebSocket's SESSION level takes none.
            context = {ConnectionScope: self.scope} if self._level is DIScope.REQUEST else None
            opened = self._opened = self._parent(context, scope=self._level)
        return opened

    async def close(self, error: BaseException | None) -> None:
        if self._opened is not None:
            await self._opened.close(error)


class ContainerPerConnection:
    """The ASGI layer that gives each connection its container and closes it at the end."""

    def __init__(self, app: ASGIApp, container: AsyncContainer) -> None:
        self._app = app
        self._container = container
        self._requests: AsyncContainer | None = None
        """The SESSION level every HTTP request's container is opened from."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind: str = scope["type"]  # lifespan too, which Litestar's `Scope` type leaves out
        app = self._container
        if kind == ScopeType.HTTP:
            requests = self._requests
            if requests is None:
                requests = self._requests = app(scope=DIScope.SESSION)
            connection = _Container(app, requests, DIScope.REQUEST, scope)
        elif kind == ScopeType.WEBSOCKET:
            connection = _Container(app, app, DIScope.SESSION, scope)
        else:
            await self._app(scope, receive, send)
            return
        token = _connection_container.set(connection)
        try:
            await self._app(scope, receive, send)
        except BaseException as error:
            await connection.close(error)
            raise
        else:
            await connection.close(None)
        finally:
            _connection_container.reset(token)

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


def inject_app_scoped(func: Callable[P, T]) -> Callable[P, T]:
    """`inject` for a handler whose `FromDishka[...]` parameters are all application-scoped
    (e.g. a use case that reads the caller from the scope): resolved from the application's
    container, so the request opens no container of its own."""
    injected = wrap_injection(func=func, is_async=True, container_getter=_app_container)
    setattr(injected, APP_SCOPED, True)
    return injected


def _app_container(_args: Any, _kwargs: Any) -> AsyncContainer:
    return _connection().app


def _current_container(_args: Any, _kwargs: Any) -> AsyncContainer:
    return connection_container()


def connection_container() -> AsyncContainer:
    """The container of the connection being served (for guards and WebSocket handlers)."""
    return _connection().get()


def connection_scope() -> Scope:
    """The ASGI scope of the connection being served. A handler that reads it here rather
    than taking a `request` parameter may take no Litestar parameter at all, and then
    skips Litestar's parsing of its keyword arguments: about 5 µs a request (see decision
    record 0006)."""
    return _connection().scope


def _connection() -> _Container:
    try:
        return _connection_container.get()
    except LookupError:
        raise RuntimeError("No dishka container: is the app wrapped with setup_di?") from None


__all__ = [
    "APP_SCOPED",
    "ConnectionProvider",
    "ConnectionScope",
    "FromDishka",
    "connection_container",
    "connection_scope",
    "inject",
    "inject_app_scoped",
    "setup_di",
]
