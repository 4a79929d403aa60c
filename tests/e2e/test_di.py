"""`tessera.shared.http.di`: a dishka container per connection, and handlers that keep
exactly the parameters they declare."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dishka import Provider, Scope, make_async_container, provide
from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.testing import AsyncTestClient, TestClient

from tessera.shared.http.di import (
    ConnectionProvider,
    ConnectionScope,
    FromDishka,
    inject,
    setup_di,
)


class Visit:
    """One per HTTP request; records when its container closed it."""

    numbers = itertools.count(1)
    closed: list[int] = []  # noqa: RUF012 (a test's shared log)

    def __init__(self, path: str) -> None:
        self.number = next(self.numbers)
        self.path = path


class Provided(Provider):
    @provide(scope=Scope.REQUEST)
    async def visit(self, connection: ConnectionScope) -> AsyncIterator[Visit]:
        visit = Visit(connection["path"])
        yield visit
        Visit.closed.append(visit.number)

    @provide(scope=Scope.SESSION)
    def greeting(self, connection: ConnectionScope) -> str:
        return f"hello {connection['path']}"


@get("/visit")
@inject
async def visit(first: FromDishka[Visit], again: FromDishka[Visit]) -> dict[str, Any]:
    return {"number": first.number, "same": first is again, "path": first.path}


@get("/uses-state")
async def uses_state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    container = request.state.dishka_container
    return {"path": (await container.get(Visit)).path}


@websocket("/greet")
async def greet(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(await socket.state.dishka_container.get(str))
    await socket.close()


def make_app() -> Litestar:
    container = make_async_container(Provided(), ConnectionProvider())
    app = Litestar(route_handlers=[visit, uses_state, greet], on_shutdown=[container.close])
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


async def test_guards_and_handlers_find_the_container_in_the_connection_state(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/uses-state")).json() == {"path": "/uses-state"}


def test_a_websocket_gets_a_session_container() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/greet") as socket:
        assert socket.receive_text() == "hello /greet"


async def test_an_injected_handler_keeps_only_the_parameters_it_declares(
    client: AsyncTestClient[Litestar],
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert "parameters" not in document["paths"]["/visit"]["get"]


async def test_an_injected_handler_outside_setup_di_says_what_is_missing() -> None:
    with pytest.raises(RuntimeError, match="setup_di"):
        await visit.fn()
