"""SPEC §3.12, on the production stack (PostgreSQL as the app role, Redis): no input gives a
500. A NUL in any string is a 400 naming the field; JSON nested deeper than
`JSON_MAX_DEPTH`, or not UTF-8, is a 400; `HEAD` answers wherever `GET` does; a header
kept as data is cleaned. The connection after a refused body: `test_server_connections.py`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.identity.conftest import Client, bearer, login, production_app
from tests.e2e.world import World, build_world

API = "/api/v1"
NUL = "a\x00b"


@dataclass(frozen=True)
class Running:
    client: Client
    world: World


@pytest.fixture
async def running(tmp_path: Path, redis_prefix: str) -> AsyncIterator[Running]:
    async with production_app(tmp_path, redis_prefix, rate_limit_enabled="false") as client:
        yield Running(client, await build_world(client))


@dataclass(frozen=True)
class Case:
    who: str | None  # a role of the world, or None: no login
    method: str
    path: str
    field: str
    json: dict[str, Any] | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)


def nul_cases(world: World) -> list[Case]:
    password = {"password": "whatever-pass"}
    register = {"email": "n@example.com", "full_name": "N", "terms_accepted": True} | password
    user = f"{API}/users/{uuid.uuid4()}"
    hook = {"url": "https://hooks.example.com/in", "events": ["user.created"]}
    return [
        Case(None, "POST", f"{API}/auth/login", "email", {"email": NUL} | password),
        Case(None, "POST", f"{API}/auth/login", "password", {"email": "a@b.co", "password": NUL}),
        Case(None, "POST", f"{API}/auth/register", "email", register | {"email": NUL}),
        Case(None, "POST", f"{API}/auth/register", "full_name", register | {"full_name": NUL}),
        Case(None, "POST", f"{API}/auth/register", "tenant_name", register | {"tenant_name": NUL}),
        Case(None, "POST", f"{API}/auth/password/forgot", "email", {"email": NUL}),
        Case(None, "POST", f"{API}/auth/verify-email", "token", {"token": NUL}),
        Case(None, "POST", f"{API}/auth/refresh", "refresh_token", {"refresh_token": NUL}),
        Case(
            None,
            "POST",
            f"{API}/auth/password/reset",
            "token",
            {"token": NUL, "new_password": "a-new-pass-99"},
        ),
        Case("acme_user", "PUT", f"{API}/users/me", "full_name", {"full_name": NUL}),
        Case("acme_user", "PUT", f"{API}/users/me", "avatar_url", {"avatar_url": NUL}),
        Case("acme_admin", "GET", f"{API}/users", "search", params={"search": NUL}),
        Case("acme_admin", "PATCH", user, "full_name", {"full_name": NUL}),
        Case("acme_admin", "PATCH", f"{API}/tenants/{world.acme}", "name", {"name": NUL}),
        Case("acme_admin", "POST", f"{API}/invitations", "email", {"email": NUL}),
        Case("acme_admin", "POST", f"{API}/webhooks", "description", hook | {"description": NUL}),
        Case(
            "acme_admin",
            "POST",
            f"{API}/webhooks",
            "events[1]",
            hook | {"events": ["user.created", NUL]},
        ),
        Case("acme_user", "GET", f"{API}/files", "search", params={"search": NUL}),
        Case("acme_user", "GET", f"{API}/files", "content_type", params={"content_type": NUL}),
        Case(
            "acme_user",
            "POST",
            f"{API}/files/uploads",
            "filename",
            {"filename": NUL, "content_type": "text/plain"},
        ),
        Case("admin", "GET", f"{API}/admin/feature-flags", "search", params={"search": NUL}),
        Case("admin", "GET", f"{API}/admin/feature-flags/a%00b", "key"),
        Case("admin", "POST", f"{API}/admin/feature-flags", "key", {"key": NUL}),
        Case(
            "admin",
            "POST",
            f"{API}/admin/feature-flags",
            "description",
            {"key": "nul-flag", "description": NUL},
        ),
        Case(
            "admin",
            "POST",
            f"{API}/notifications",
            "title",
            {"title": NUL, "body": "b", "global": True},
        ),
        Case("admin", "GET", f"{API}/users", "query parameter name", params={NUL: "x"}),
    ]


async def test_a_nul_in_any_string_is_a_400_naming_the_field(running: Running) -> None:
    wrong = []
    for case in nul_cases(running.world):
        headers = running.world.headers[case.who] if case.who else {}
        response = await running.client.request(
            case.method, case.path, json=case.json, params=case.params, headers=headers
        )
        error = response.json().get("error", {})
        seen = (response.status_code, error.get("code"), error.get("field"))
        if seen != (400, "VALIDATION_ERROR", case.field):
            wrong.append((case.method, case.path, case.field, seen))
    assert wrong == []
    sample = await running.client.post(
        f"{API}/auth/login", json={"email": NUL, "password": "whatever-pass"}
    )
    assert sample.json()["error"]["message"] == (
        "email contains a character that is not allowed (U+0000)."
    )


def multipart(disposition: bytes, content: bytes = b"hello\n") -> tuple[bytes, dict[str, str]]:
    boundary = b"hostile-boundary"
    body = (
        b"--"
        + boundary
        + b"\r\nContent-Disposition: form-data; "
        + disposition
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + content
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    return body, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}


@pytest.mark.parametrize(
    ("disposition", "named"),
    [
        (b"name=\"file\"; filename*=UTF-8''a%00b.txt", "file"),
        (b'name="file"; filename="a\x00b.txt"', "file"),
        (b'name="file\x00"; filename="notes.txt"', "form field name"),
    ],
)
async def test_a_nul_in_a_multipart_name_or_file_name_is_a_400(
    running: Running, disposition: bytes, named: str
) -> None:
    body, headers = multipart(disposition)
    headers |= running.world.headers["acme_user"]
    response = await running.client.post(f"{API}/files", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["field"] == named
    body, _ = multipart(b'name="note"', content=b"\xff\xfe not utf-8")
    response = await running.client.post(f"{API}/files", content=body, headers=headers)
    assert response.status_code == 400, response.text


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def json_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) of every operation taking a JSON body."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                filled = path.replace("{key}", "some-flag")
                for name in ("user_id", "tenant_id", "webhook_id"):
                    filled = filled.replace(f"{{{name}}}", str(uuid.uuid4()))
                found.append((method.upper(), filled))
    return found


async def test_json_nested_deeper_than_the_limit_is_a_400_on_every_json_endpoint(
    running: Running,
) -> None:
    document = (await running.client.get("/schema/openapi.json")).json()
    operations = json_operations(document)
    assert len(operations) >= 15
    headers = running.world.headers["admin"] | {"content-type": "application/json"}
    bodies = (  # (body, too deep?): 1,000 levels in 2 KB, 65 levels, brackets in a string
        (nested(1000), True),
        (b'{"a": ' + nested(64) + b"}", True),
        (b'{"a": "' + b"[" * 900 + b'"}', False),
    )
    wrong = []
    for method, path in operations:
        for body, deep in bodies:
            response = await running.client.request(method, path, content=body, headers=headers)
            error = response.json().get("error", {})
            refused_as_deep = "nested deeper than 64 levels" in error.get("message", "")
            if response.status_code != 400 or refused_as_deep != deep:
                wrong.append((method, path, body[:12], response.status_code, error))
    assert wrong == []


async def test_a_body_at_the_limit_is_decoded_and_one_past_it_is_not(running: Running) -> None:
    path, headers = f"{API}/auth/login", {"content-type": "application/json"}
    at_limit = b'{"email": ' + nested(63) + b', "password": "x"}'  # 64 levels with the object
    past = b'{"email": ' + nested(64) + b', "password": "x"}'
    first = (await running.client.post(path, content=at_limit, headers=headers)).json()["error"]
    second = (await running.client.post(path, content=past, headers=headers)).json()["error"]
    assert first["field"] == "email"  # decoded, then refused for its type
    assert second == {
        "code": "VALIDATION_ERROR",
        "message": "The JSON body is nested deeper than 64 levels.",
        "details": {"max_depth": 64},
    }


async def test_a_json_body_that_is_not_utf8_is_a_400(running: Running) -> None:
    response = await running.client.post(
        f"{API}/auth/login",
        content=b'{"email": "\xff@example.com", "password": "x"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_a_user_agent_is_kept_without_its_control_characters(running: Running) -> None:
    tokens = await login(running.client, "staff@acme.test")
    response = await running.client.post(
        f"{API}/auth/login",
        json={"email": "staff@acme.test", "password": "correct horse battery"},
        headers={"user-agent": "Evil\x00Agent\x1b/1.0"},
    )
    assert response.status_code == 200, response.text
    sessions = await running.client.get(f"{API}/auth/sessions", headers=bearer(tokens))
    agents = {session["user_agent"] for session in sessions.json()["data"]}
    assert "EvilAgent/1.0" in agents


def get_paths(document: dict[str, Any], world: World) -> list[str]:
    """Every GET of the document, with its path parameters filled."""
    paths = []
    for path, item in document["paths"].items():
        if "get" in item:
            filled = path.replace("{tenant_id}", world.acme).replace("{module}", "database")
            filled = filled.replace("{key}", "no-such-flag")
            for name in ("user_id", "file_id", "webhook_id"):
                filled = filled.replace(f"{{{name}}}", str(uuid.uuid4()))
            paths.append(filled)
    return paths


async def test_head_answers_wherever_get_does_with_the_same_status_and_no_body(
    running: Running,
) -> None:
    document = (await running.client.get("/schema/openapi.json")).json()
    headers = running.world.headers["admin"]
    paths = [*get_paths(document, running.world), "/schema/openapi.json", "/api/v1/nowhere"]
    wrong = []
    for path in paths:
        got = await running.client.get(path, headers=headers, follow_redirects=False)
        head = await running.client.head(path, headers=headers, follow_redirects=False)
        same = (head.status_code, head.headers.get("content-type")) == (
            got.status_code,
            got.headers.get("content-type"),
        )
        if not same or head.content != b"" or "content-length" not in head.headers:
            wrong.append((path, got.status_code, head.status_code, head.content[:40]))
    assert wrong == []
    me = [
        await running.client.request(method, f"{API}/users/me", headers=headers)
        for method in ("GET", "HEAD")
    ]
    assert me[1].headers["content-length"] == me[0].headers["content-length"]


async def test_a_405_allows_head_wherever_it_allows_get(running: Running) -> None:
    response = await running.client.delete("/health")
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "HEAD"} <= allowed
