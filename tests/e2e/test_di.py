"""`tessera.shared.http.di`: a dishka container per connection, and handlers that keep
exactly the parameters they declare."""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dishka import AsyncContainer, Provider, Scope, make_async_container, provide
from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.testing import AsyncTestClient, TestClient

from tessera.shared.http.di import (
    ConnectionProvider,
    ConnectionScope,
    FromDishka,
    connection_container,
    connection_scope,
    inject,
    inject_app_scoped,
    setup_di,
)
from tests.e2e.harness import asgi_request


class Visit:
    """One per HTTP request; records when its container closed it, and keeps a weak
    reference to each one made (to tell whether it outlived its request)."""

    numbers = itertools.count(1)
    closed: list[int] = []  # noqa: RUF012 (a test's shared log)
    made: list[weakref.ref[Visit]] = []  # noqa: RUF012 (a test's shared log)

    def __init__(self, path: str) -> None:
        self.number = next(self.numbers)
        self.path = path
        Visit.made.append(weakref.ref(self))


class Marker:
    """Put in a request's state; weakly remembered, to tell whether the state outlived it."""

    made: list[weakref.ref[Marker]] = []  # noqa: RUF012 (a test's shared log)

    def __init__(self) -> None:
        Marker.made.append(weakref.ref(self))


class Level:
    """SESSION-scoped: one per WebSocket, and one for all HTTP requests together."""

    closed: list[Level] = []  # noqa: RUF012 (a test's shared log)


class Settings:
    """APP-scoped: one for the whole application."""


class Provided(Provider):
    settings = provide(Settings, scope=Scope.APP)

    @provide(scope=Scope.SESSION)
    async def level(self) -> AsyncIterator[Level]:
        level = Level()
        yield level
        Level.closed.append(level)

    @provide(scope=Scope.REQUEST)
    async def visit(self, connection: ConnectionScope) -> AsyncIterator[Visit]:
        visit = Visit(connection["path"])
        yield visit
        Visit.closed.append(visit.number)

    sockets = itertools.count(1)

    @provide(scope=Scope.SESSION)
    def greeting(self) -> str:
        return f"hello {next(self.sockets)}"


@get("/visit")
@inject
async def visit(first: FromDishka[Visit], again: FromDishka[Visit]) -> dict[str, Any]:
    return {"number": first.number, "same": first is again, "path": first.path}


@get("/level")
@inject
async def level(shared: FromDishka[Level]) -> dict[str, int]:
    return {"level": id(shared)}


@get("/uses-state")
async def uses_state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    container = connection_container()
    request.state.marker = Marker()
    return {
        "path": (await container.get(Visit)).path,
        "same": container is connection_container(),
        "request_containers": len(request_containers()),
    }


@get("/app-scoped")
@inject_app_scoped
async def app_scoped(settings: FromDishka[Settings]) -> dict[str, Any]:
    return {"settings": id(settings), "request_containers": len(request_containers())}


@get("/nothing")
async def nothing() -> dict[str, Any]:
    return {"request_containers": len(request_containers()), "path": connection_scope()["path"]}


def request_containers() -> list[AsyncContainer]:
    """The REQUEST-scope containers of the app being served alive now (each request runs
    alone in these tests; other tests' apps in this process are not counted)."""
    app: Litestar = connection_scope()["app"]
    registry = app.state.dishka_container.registry
    while registry.scope is not Scope.REQUEST:
        registry = registry.child_registry
    return [o for o in gc.get_objects() if isinstance(o, AsyncContainer) and o.registry is registry]


@websocket("/greet")
async def greet(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    container = connection_container()
    await socket.send_text(f"{await container.get(str)}, {await container.get(str)}")
    await socket.close()


def make_app() -> Litestar:
    container = make_async_container(Provided(), ConnectionProvider())
    app = Litestar(
        route_handlers=[visit, level, uses_state, app_scoped, nothing, greet],
        on_shutdown=[container.close],
    )
    setup_di(container, app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(make_app()) as test_client:
        yield test_client


async def test_each_request_has_a_container_of_its_own_closed_when_it_ends(
    client: AsyncTestClient[Litestar],
) -> None:
    first = (await client.get("/visit")).json()
    second = (await client.get("/visit")).json()
    assert first["same"] is True, "one instance per request"
    assert first["path"] == "/visit", "the request's ASGI scope is in the container's context"
    assert second["number"] != first["number"]
    assert {first["number"], second["number"]} <= set(Visit.closed)


async def test_guards_and_handlers_find_the_requests_container(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/uses-state")).json() == {
        "path": "/uses-state",
        "same": True,
        "request_containers": 1,
    }


async def test_a_request_that_resolves_nothing_request_scoped_opens_no_container(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/nothing")).json() == {"request_containers": 0, "path": "/nothing"}
    first = (await client.get("/app-scoped")).json()
    second = (await client.get("/app-scoped")).json()
    assert first["request_containers"] == second["request_containers"] == 0
    assert first["settings"] == second["settings"], "the application's one instance"


def test_each_websocket_gets_a_session_container_of_its_own() -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/greet") as socket:
            first = socket.receive_text()
        with client.websocket_connect("/greet") as socket:
            second = socket.receive_text()
    number = first.split(", ")[0]
    assert first == f"{number}, {number}", "one instance per socket"
    assert second.split(", ")[0] != number


async def test_an_injected_handler_keeps_only_the_parameters_it_declares(
    client: AsyncTestClient[Litestar],
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert "parameters" not in document["paths"]["/visit"]["get"]


async def test_an_injected_handler_outside_setup_di_says_what_is_missing() -> None:
    with pytest.raises(RuntimeError, match="setup_di"):
        await visit.fn()
    with pytest.raises(RuntimeError, match="setup_di"):
        await app_scoped.fn()
    with pytest.raises(RuntimeError, match="setup_di"):
        connection_scope()


async def test_http_requests_open_their_containers_from_one_shared_session_level() -> None:
    """dishka's SESSION level (a WebSocket's) sits between APP and REQUEST: HTTP requests
    share one, closed when the app shuts down, rather than building one each."""
    async with AsyncTestClient(make_app()) as client:
        first = (await client.get("/level")).json()["level"]
        second = (await client.get("/level")).json()["level"]
        assert first == second
        assert all(id(level) != first for level in Level.closed), "still open"
    assert any(id(level) == first for level in Level.closed), "closed at shutdown"


async def test_a_request_leaves_nothing_for_the_garbage_collector() -> None:
    """Reference counting frees everything a request built the moment it ends. A reference
    cycle (the container's context holds the scope, whose state held the container) would
    leave it to the collector, whose pauses then land in other requests' latency: with the
    collector off, what the request's container made or its state held would still be
    alive."""
    app = make_app()
    statuses = [await asgi_request(app, "GET", "/uses-state")]  # builds what every request shares
    gc.disable()
    try:
        Visit.made.clear()
        Marker.made.clear()
        for _ in range(10):
            statuses.append(await asgi_request(app, "GET", "/uses-state"))
        made = Visit.made + Marker.made
        outlived = [ref for ref in made if ref() is not None]
    finally:
        gc.enable()
    assert statuses == [200] * 11
    assert len(made) == 20
    assert outlived == [], "a request's objects outlived it, left to the garbage collector"
