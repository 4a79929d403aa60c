"""Every response the service can produce is in the envelope, with a request id (SPEC §3.1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
import pytest
import redis.exceptions
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient
from sqlalchemy import exc as sql_errors
from sqlalchemy.exc import OperationalError

from tessera.main.logs import configure_logging
from tessera.shared.domain.errors import Conflict, DependencyUnavailable
from tessera.shared.domain.pagination import Page, PageRequest
from tessera.shared.domain.patterns import HTTP_URL, NOT_BLANK
from tessera.shared.http.envelope import Paginated, Success, ok, paginated
from tessera.shared.http.pagination import page_request
from tests.e2e.harness import client_for, settings_for


class Signup(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    age: int


class Preferences(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields of every kind of constraint the request types use."""

    age: int = 0
    name: Annotated[str, msgspec.Meta(pattern=NOT_BLANK, max_length=5)] = "Ann"
    website: Annotated[str, msgspec.Meta(pattern=HTTP_URL)] | None = None
    code: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "ABC"  # not `described`
    tags: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["new"]
    )
    newsletter: bool = False
    plan: Literal["free", "paid"] = "free"


@post("/api/v1/probe/signup")
async def signup(data: JSONBody[Signup]) -> Success[Signup]:
    return ok(data, message="created")


@post("/api/v1/probe/preferences")
async def preferences(data: JSONBody[Preferences]) -> Success[Preferences]:
    return ok(data)


@get("/api/v1/probe/crash")
async def crash() -> None:
    raise RuntimeError("secret internals: password=hunter2 at db-host-7")


@get("/api/v1/probe/database-down")
async def database_down() -> None:
    raise OperationalError("SELECT 1", {}, ConnectionRefusedError("db-host-7:5432"))


@get("/api/v1/probe/cache-down")
async def cache_down() -> None:
    raise DependencyUnavailable("The cache is unavailable.")


# What the drivers raise when PostgreSQL or Redis is down or saturated (asyncpg's error is
# raised bare while connecting; SQLAlchemy wraps it once a connection exists).
OUTAGES: dict[str, Exception] = {
    "pool-wait": sql_errors.TimeoutError("QueuePool limit of size 2 overflow 0 reached"),
    "too-many-connections": asyncpg.TooManyConnectionsError("too many connections for role"),
    "too-many-wrapped": sql_errors.DBAPIError(
        "SELECT 1", {}, asyncpg.TooManyConnectionsError("sorry, too many clients already")
    ),
    "admin-shutdown": asyncpg.AdminShutdownError("terminating connection due to administrator"),
    "connection-refused": ConnectionRefusedError(111, "Connect call failed ('db-host-7', 5432)"),
    "invalidated": sql_errors.DBAPIError(
        "SELECT 1", {}, Exception("connection is closed"), connection_invalidated=True
    ),
    "redis-pool": redis.exceptions.ConnectionError("No connection available."),
    "redis-timeout": redis.exceptions.TimeoutError("Timeout reading from db-host-7:6379"),
    "redis-loading": redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
}

# Errors of the same drivers that are bugs, not outages.
BUGS: dict[str, Exception] = {
    "sql-syntax": sql_errors.ProgrammingError(
        "SELEC 1", {}, asyncpg.PostgresSyntaxError("syntax error at or near SELEC")
    ),
    "unique-violation": sql_errors.IntegrityError(
        "INSERT", {}, asyncpg.UniqueViolationError("duplicate key value")
    ),
    "redis-wrongtype": redis.exceptions.ResponseError("WRONGTYPE Operation against a key"),
    "plain": ValueError("db-host-7"),
}


@get("/api/v1/probe/down/{kind:str}")
async def down(kind: FromPath[str]) -> None:
    raise OUTAGES[kind]


@get("/api/v1/probe/bug/{kind:str}")
async def bug(kind: FromPath[str]) -> None:
    raise BUGS[kind]


@get("/api/v1/probe/conflict")
async def conflict() -> None:
    raise Conflict("That email is already registered.", field="email")


@get("/api/v1/probe/cached")
async def cached() -> Response[dict[str, str]]:
    return Response({"x": "y"}, headers={"Cache-Control": "public, max-age=60"})


@get("/api/v1/probe/items", dependencies={"paging": page_request(["created_at", "name"])})
async def items(paging: NamedDependency[PageRequest]) -> Paginated[str]:
    names = [f"item-{i}" for i in range(45)]
    page = Page(
        items=names[paging.offset : paging.offset + paging.limit], total_items=45, request=paging
    )
    return paginated(page, str.upper)


PROBES = [signup, preferences, crash, down, bug, database_down, cache_down, conflict, cached, items]


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(database_url=sqlite_url, cors_allow_origins="https://app.example")
    async with client_for(settings, routes=PROBES) as test_client:
        yield test_client


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z")
    found: dict[str, Any] = body["error"]
    return found


async def test_success_is_wrapped_with_data_message_and_meta(client: AsyncTestClient[Any]) -> None:
    response = await client.post("/api/v1/probe/signup", json={"email": "a@b.c", "age": 30})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["data"] == {"email": "a@b.c", "age": 30}
    assert body["message"] == "created"
    assert body["meta"]["request_id"] == response.headers["x-request-id"]


async def test_unknown_route_is_a_404_envelope(client: AsyncTestClient[Any]) -> None:
    assert_error(await client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")


async def test_wrong_method_is_a_405_envelope_with_allow(client: AsyncTestClient[Any]) -> None:
    response = await client.delete("/api/v1/probe/signup")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["allow"]


async def test_a_body_over_one_mebibyte_is_a_413_envelope(client: AsyncTestClient[Any]) -> None:
    big = json.dumps({"email": "x" * (2 * 1024 * 1024), "age": 1})
    response = await client.post(
        "/api/v1/probe/signup", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_an_oversized_body_to_an_unknown_route_is_still_413(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.post(
        "/api/v1/nowhere",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_malformed_json_is_a_validation_error(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/probe/signup", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "The request body is not valid JSON."


async def test_a_missing_body_is_a_validation_error(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/probe/signup", headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "A JSON request body is required."


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email": "a@b.c"}, "age", "age is required"),
        ({"email": "a@b.c", "age": "old"}, "age", "Expected int"),
        ({"email": "a@b.c", "age": 3, "role": "admin"}, "role", "not a known field"),
    ],
)
async def test_validation_errors_name_the_field(
    client: AsyncTestClient[Any], body: dict[str, Any], field: str, words: str
) -> None:
    error = assert_error(
        await client.post("/api/v1/probe/signup", json=body), 400, "VALIDATION_ERROR"
    )
    assert error["field"] == field
    assert words in error["message"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"name": " "},
            "name",
            "name must be text with at least one character that is not a space.",
        ),
        (
            {"website": "ftp://a"},
            "website",
            "website must be a URL starting with http:// or https://.",
        ),
        ({"code": "abc"}, "code", "code is not in the expected form."),
        ({"name": "Annabel"}, "name", "name must be at most 5 characters long."),
        ({"tags": []}, "tags", "tags must hold at least 1 item."),
        ({"plan": "gold"}, "plan", "'gold' is not one of the values plan accepts."),
    ],
)
async def test_validation_messages_say_what_is_expected_in_words(
    client: AsyncTestClient[Any], fields: dict[str, Any], field: str, message: str
) -> None:
    error = assert_error(
        await client.post("/api/v1/probe/preferences", json=fields), 400, "VALIDATION_ERROR"
    )
    assert (error["field"], error["message"]) == (field, message)
    assert "regex" not in error["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"age": "3"}, "age"),
        ({"newsletter": 1}, "newsletter"),
        ({"newsletter": "true"}, "newsletter"),
    ],
)
async def test_a_json_body_holds_its_declared_types_without_coercion(
    client: AsyncTestClient[Any], fields: dict[str, Any], field: str
) -> None:
    """The OpenAPI document says integer and boolean: a string or a number is not one."""
    error = assert_error(
        await client.post("/api/v1/probe/preferences", json=fields), 400, "VALIDATION_ERROR"
    )
    assert error["field"] == field


async def test_a_whole_number_written_with_a_fraction_is_still_an_integer(
    client: AsyncTestClient[Any],
) -> None:
    """JSON (and JSON Schema) has one kind of number: 3.0 is the integer 3; 3.5 is not."""
    whole = await client.post("/api/v1/probe/preferences", json={"age": 3.0})
    assert whole.status_code == 201, whole.text
    assert whole.json()["data"]["age"] == 3
    fraction = await client.post("/api/v1/probe/preferences", json={"age": 3.5})
    assert assert_error(fraction, 400, "VALIDATION_ERROR")["field"] == "age"


async def test_a_body_that_is_not_json_is_a_415_envelope(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/probe/signup", content=b"email=a", headers={"content-type": "text/plain"}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_an_unhandled_exception_is_a_500_that_leaks_nothing(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.get("/api/v1/probe/crash")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    for leak in ("hunter2", "db-host-7", "RuntimeError", "Traceback"):
        assert leak not in response.text
    assert error["message"] == "An unexpected error occurred."


@pytest.mark.parametrize("path", ["/api/v1/probe/database-down", "/api/v1/probe/cache-down"])
async def test_a_dependency_that_is_down_is_a_503(client: AsyncTestClient[Any], path: str) -> None:
    response = await client.get(path)
    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "db-host-7" not in response.text
    assert response.headers["retry-after"] == str(error["retry_after"]) == "5"


@pytest.mark.parametrize("kind", sorted(OUTAGES))
async def test_every_kind_of_outage_and_saturation_is_a_503_with_retry_after(
    client: AsyncTestClient[Any], kind: str
) -> None:
    response = await client.get(f"/api/v1/probe/down/{kind}")
    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    saturated = kind in ("pool-wait", "too-many-connections", "too-many-wrapped", "redis-pool")
    assert error["retry_after"] == (1 if saturated else 5)
    assert response.headers["retry-after"] == str(error["retry_after"])
    assert "db-host-7" not in response.text
    assert "too many" not in response.text


@pytest.mark.parametrize("kind", sorted(BUGS))
async def test_driver_errors_that_are_bugs_stay_500s(
    client: AsyncTestClient[Any], kind: str
) -> None:
    response = await client.get(f"/api/v1/probe/bug/{kind}")
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "retry-after" not in response.headers


async def test_domain_errors_carry_their_message_and_field(client: AsyncTestClient[Any]) -> None:
    error = assert_error(await client.get("/api/v1/probe/conflict"), 409, "CONFLICT")
    assert error == {
        "code": "CONFLICT",
        "message": "That email is already registered.",
        "field": "email",
    }


async def test_a_safe_incoming_request_id_is_echoed(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"


@pytest.mark.parametrize("unsafe", ["has space", "x" * 129, "semi;colon", "<script>"])
async def test_an_unsafe_request_id_is_replaced(client: AsyncTestClient[Any], unsafe: str) -> None:
    response = await client.get("/api/v1/nothing", headers={"X-Request-ID": unsafe})
    assert response.headers["x-request-id"].startswith("req-")
    assert response.json()["meta"]["request_id"] == response.headers["x-request-id"]


async def test_security_headers_and_no_store_are_on_every_response(
    client: AsyncTestClient[Any],
) -> None:
    for response in (await client.get("/health"), await client.get("/missing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers


async def test_a_handler_may_choose_its_own_cache_control(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/v1/probe/cached")
    assert response.headers["cache-control"] == "public, max-age=60"


async def test_hsts_is_sent_in_production(sqlite_url: str) -> None:
    settings = settings_for(database_url=sqlite_url)
    production = msgspec.structs.replace(settings, environment="production")
    async with client_for(production) as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_allows_only_the_configured_origins(client: AsyncTestClient[Any]) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await client.options(
        "/api/v1/probe/signup", headers={"Origin": "https://app.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = await client.options(
        "/api/v1/probe/signup", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


async def test_lists_are_paginated_with_the_shared_envelope(client: AsyncTestClient[Any]) -> None:
    response = await client.get(
        "/api/v1/probe/items", params={"page": 3, "limit": 20, "sort": "name"}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == [f"ITEM-{i}" for i in range(40, 45)]
    assert body["pagination"] == {
        "page": 3,
        "limit": 20,
        "total_items": 45,
        "total_pages": 3,
        "has_next": False,
        "has_prev": True,
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"page": 0}, "page"),
        ({"sort": "password"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": "many"}, "limit"),
    ],
)
async def test_bad_paging_parameters_are_refused_naming_the_parameter(
    client: AsyncTestClient[Any], params: dict[str, Any], field: str
) -> None:
    error = assert_error(
        await client.get("/api/v1/probe/items", params=params), 400, "VALIDATION_ERROR"
    )
    assert error["field"] == field


async def test_each_request_logs_one_json_line_with_its_request_id(
    client: AsyncTestClient[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    capsys.readouterr()
    await client.get("/api/v1/probe/crash", headers={"X-Request-ID": "req-log-check"})
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    mine = [line for line in lines if line.get("request_id") == "req-log-check"]
    assert {line["message"] for line in mine} >= {"unhandled exception", "request"}
    access = next(line for line in mine if line["message"] == "request")
    assert access["status"] == 500
    assert access["path"] == "/api/v1/probe/crash"


async def test_a_streamed_body_over_the_limit_is_refused_while_reading(sqlite_url: str) -> None:
    """No Content-Length (chunked): the limit holds as the body is read, in the envelope."""
    from tessera.main.ioc import make_container
    from tessera.main.web import create_app

    settings = settings_for(database_url=sqlite_url)
    app = create_app(make_container(settings), settings)
    app.register(signup)
    chunks = [b'{"email": "'] + [b"x" * 65536] * 20 + [b'", "age": 1}']
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages[-1]["more_body"] = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/probe/signup",
        "raw_path": b"",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "http_version": "1.1",
        "server": ("tessera.test", 80),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert start["status"] == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
