"""Input nobody reads is refused, on the production stack (PostgreSQL as the app role,
Redis): a query parameter the route does not take, or one it takes given twice, is a 400
naming it, as an unknown body field is; so is a multipart part next to `file`. What
legitimately carries a query still works: signed storage links (`?token=`), the
WebSocket's `?token=`, the docs page's assets (`?v=`), CORS preflights."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.routes import HTTPRoute

from tessera.main.docs_page import SWAGGER_UI_VERSION
from tessera.shared.http.query_parameters import taken_parameters
from tests.e2e.identity.conftest import Client, production_app
from tests.e2e.world import World, build_world
from tests.unit.files.samples import PDF, PNG

API = "/api/v1"
ORIGIN = "https://app.example.test"
FILES_TAKES = "content_type, kind, limit, order, page, search, sort, tenant_id, uploaded_after"


@dataclass(frozen=True)
class Running:
    client: Client
    world: World


@pytest.fixture
async def running(tmp_path: Path, redis_prefix: str) -> AsyncIterator[Running]:
    async with production_app(
        tmp_path, redis_prefix, rate_limit_enabled="false", cors_allow_origins=ORIGIN
    ) as client:
        yield Running(client, await build_world(client))


def refused(response: Any, field: str | None) -> dict[str, Any]:
    assert response.status_code == 400, response.text[:500]
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error.get("field") == field, error
    return error


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_an_unknown_query_parameter_is_a_400_naming_it(running: Running) -> None:
    client, headers = running.client, running.world.headers["acme_user"]
    colour = await client.get(f"{API}/files", params={"colour": "red"}, headers=headers)
    assert refused(colour, "colour")["message"] == (
        f"colour is not a known query parameter (this route takes {FILES_TAKES})."
    )
    typo = await client.get(f"{API}/files", params={"serach": "report"}, headers=headers)
    assert refused(typo, "serach")["message"].startswith("serach is not a known query parameter")
    none = await client.get(f"{API}/users/me", params={"colour": "red"}, headers=headers)
    assert refused(none, "colour")["message"] == (
        "colour is not a known query parameter (this route takes none)."
    )
    blank = await client.get(f"{API}/users/me?verbose", headers=headers)  # no value at all
    refused(blank, "verbose")
    nameless = await client.get(f"{API}/users/me?=x", headers=headers)
    assert refused(nameless, None)["message"].startswith("A query parameter has no name")
    two = await client.get(f"{API}/files?colour=red&serach=x&page=2", headers=headers)
    error = refused(two, "colour")
    assert [problem["key"] for problem in error["details"]["errors"]] == ["colour", "serach"]
    head = await client.head(f"{API}/files", params={"colour": "red"}, headers=headers)
    assert (head.status_code, head.content) == (400, b"")
    unchanged = await client.get(f"{API}/files", headers=headers)
    assert unchanged.status_code == 200, unchanged.text


async def test_a_parameter_given_twice_is_a_400_naming_it(running: Running) -> None:
    client, headers = running.client, running.world.headers["acme_user"]
    twice = await client.get(f"{API}/files?search=a&search=b", headers=headers)
    assert refused(twice, "search")["message"] == "search is given 2 times; send it once."
    paged = await client.get(f"{API}/files?page=1&limit=5&page=2", headers=headers)
    refused(paged, "page")
    once = await client.get(f"{API}/files?search=a&page=1&limit=5", headers=headers)
    assert once.status_code == 200, once.text


def filled(path: str, world: World) -> str:
    path = path.replace("{tenant_id}", world.acme).replace("{module}", "database")
    path = path.replace("{key}", "no-such-flag")
    return re.sub(r"{\w+}", lambda _: str(uuid.uuid4()), path)


async def test_every_operation_refuses_an_unknown_parameter_before_it_runs(
    running: Running,
) -> None:
    client, world = running.client, running.world
    document = (await client.get("/schema/openapi.json")).json()
    operations = [
        (method.upper(), filled(path, world))
        for path, item in document["paths"].items()
        for method in item
    ]
    assert len(operations) >= 50
    operations += [  # outside the document
        ("GET", "/docs"),
        ("GET", "/schema"),
        ("GET", "/schema/openapi.json"),
        ("GET", "/schema/assets/swagger-ui.css"),
        ("GET", f"{API}/storage/objects"),
        ("PUT", f"{API}/storage/objects"),
    ]
    headers = world.headers["admin"]
    wrong = []
    for method, path in operations:
        response = await client.request(
            method, path, params={"colour": "red"}, json={}, headers=headers
        )
        error = response.json().get("error", {}) if response.content else {}
        if response.status_code != 400 or error.get("field") != "colour":
            wrong.append((method, path, response.status_code, error))
    assert wrong == []
    # nothing ran: the admin (DELETE /users/me, POST /auth/logout...) still works
    assert (await client.get(f"{API}/users/me", headers=headers)).status_code == 200


def a_value(schema: dict[str, Any], components: dict[str, Any], world: World) -> str:
    """A valid value for a documented query parameter."""
    if schema.get("format") == "date-time":
        return "2026-01-31T12:00:00Z"
    choices = schema.get("oneOf") or schema.get("anyOf") or [schema]
    schema = next(choice for choice in choices if choice.get("type") != "null")
    if "$ref" in schema:
        schema = components[schema["$ref"].rpartition("/")[2]]
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "uuid":
        return world.acme
    return {"integer": "1", "boolean": "true"}.get(schema.get("type", ""), "a")


async def test_every_documented_parameter_is_taken(running: Running) -> None:
    """The parameters each operation takes are the ones its document lists, and a GET
    given all of them, with valid values, answers."""
    client, world = running.client, running.world
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    taken: dict[tuple[str, str], frozenset[str]] = {}
    for route in client.app.routes:
        if isinstance(route, HTTPRoute):
            path = re.sub(r"{(\w+):[^}]+}", r"{\1}", route.path)
            for handler in route.route_handlers:
                names = taken_parameters(handler, route.path_parameters).names
                taken |= {(path, method.lower()): names for method in handler.http_methods}
    wrong: list[tuple[object, ...]] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "not one this operation takes" in operation["responses"]["400"]["description"]
            parameters = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            if taken[path, method] != {p["name"] for p in parameters}:
                wrong.append((method, path, taken[path, method], parameters))
            if method == "get" and parameters:
                params = {p["name"]: a_value(p["schema"], components, world) for p in parameters}
                response = await client.get(
                    filled(path, world), params=params, headers=world.headers["admin"]
                )
                if response.status_code not in (200, 404):
                    wrong.append((method, path, params, response.status_code, response.text))
    assert wrong == []
    assert taken["/api/v1/files", "get"] == set(FILES_TAKES.split(", "))


async def test_signed_storage_links_work_and_take_nothing_else(running: Running) -> None:
    client, headers = running.client, running.world.headers["acme_user"]
    started = await client.post(
        f"{API}/files/uploads",
        headers=headers,
        json={"filename": "report.pdf", "content_type": "application/pdf", "size_bytes": len(PDF)},
    )
    assert started.status_code == 201, started.text
    ticket = started.json()["data"]
    put = await client.put(path_of(ticket["url"]), content=PDF, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    file_id = ticket["file"]["id"]
    done = await client.post(f"{API}/files/{file_id}/complete", headers=headers)
    assert done.status_code == 200, done.text
    detail = (await client.get(f"{API}/files/{file_id}", headers=headers)).json()["data"]
    link = path_of(detail["download_url"])
    assert "?token=" in link
    download = await client.get(link)
    assert (download.status_code, download.content) == (200, PDF)
    refused(await client.get(f"{link}&colour=red"), "colour")
    refused(await client.get(f"{link}&token=again"), "token")

    avatar = await client.put(
        f"{API}/users/me/avatar", files={"file": ("a.png", PNG)}, headers=headers
    )
    assert avatar.status_code == 200, avatar.text
    avatar_url = path_of(avatar.json()["data"]["avatar_url"])
    assert "?v=1.png" in avatar_url
    redirect = await client.get(avatar_url, headers=headers, follow_redirects=False)
    assert redirect.status_code == 307, redirect.text
    image = await client.get(path_of(redirect.headers["location"]))
    assert image.status_code == 200, image.text
    assert image.content.startswith(b"\x89PNG")


async def test_the_websocket_still_takes_its_token_in_the_url(running: Running) -> None:
    token = running.world.headers["acme_user"]["Authorization"].removeprefix("Bearer ")
    for path in ("/ws/notifications", f"{API}/ws/notifications"):
        socket = await running.client.websocket_connect(path, params={"token": token})
        with socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}


async def test_the_docs_assets_and_preflights_keep_their_queries(running: Running) -> None:
    client = running.client
    page = await client.get("/docs")
    assert f"swagger-ui.css?v={SWAGGER_UI_VERSION}" in page.text
    for asset in re.findall(r'(?:href|src)="(/schema/assets/[^"]+)"', page.text):
        assert (await client.get(asset)).status_code == 200, asset
    refused(await client.get("/schema/assets/swagger-ui.css?colour=red"), "colour")
    preflight = await client.options(
        f"{API}/files",
        params={"search": "report"},
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


async def test_a_multipart_part_next_to_file_is_a_400_naming_it(running: Running) -> None:
    client, headers = running.client, running.world.headers["acme_user"]
    extra = await client.post(
        f"{API}/files",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data={"description": "quarterly"},
        headers=headers,
    )
    assert refused(extra, "description")["message"] == (
        "The multipart field `description` is not accepted: send only `file`."
    )
    second_file = await client.post(
        f"{API}/files",
        headers=headers,
        files=[("file", ("a.pdf", PDF, "application/pdf")), ("thumbnail", ("t.png", PNG))],
    )
    refused(second_file, "thumbnail")
    assert (await client.get(f"{API}/files", headers=headers)).json()["data"] == []
    alone = await client.post(
        f"{API}/files", files={"file": ("a.pdf", PDF, "application/pdf")}, headers=headers
    )
    assert alone.status_code == 201, alone.text

    avatar = await client.put(
        f"{API}/users/me/avatar",
        files={"file": ("a.png", PNG)},
        data={"crop": "square"},
        headers=headers,
    )
    refused(avatar, "crop")
    me = (await client.get(f"{API}/users/me", headers=headers)).json()["data"]
    assert me["avatar_url"] is None
