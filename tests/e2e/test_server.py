"""`tessera serve` with no configuration at all: embedded mode, as a new user runs it."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tessera.main.migrations import head_revision
from tests.e2e.processes import RunningServer, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("embedded")) as running:
        yield running


def test_serve_creates_var_and_migrates_the_sqlite_database(server: RunningServer) -> None:
    database = Path(server.log).parent / "var" / "tessera.db"
    assert database.is_file()
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert revision == head_revision()
    assert {"tenants", "outbox"} <= tables


def test_health_answers_with_a_request_id(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.headers["x-request-id"].startswith("req-")
    assert httpx.get(f"{server.url}/health/ready").json()["checks"]["database"] == "healthy"


TWO_MIB_JSON = b"{" + b" " * (2 * 1024 * 1024) + b"}"


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        ("GET", "/api/v1/nothing-here", None, 404, "NOT_FOUND"),
        ("DELETE", "/health", None, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/v1/auth/register", TWO_MIB_JSON, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_errors_from_the_real_server_are_envelopes(
    server: RunningServer, method: str, path: str, content: bytes | None, status: int, code: str
) -> None:
    headers = {"content-type": "application/json", "x-request-id": f"req-e2e-{status}"}
    response = httpx.request(method, f"{server.url}{path}", content=content, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert body["meta"]["request_id"] == f"req-e2e-{status}" == response.headers["x-request-id"]


def test_the_server_logs_json_lines_carrying_the_request_id(server: RunningServer) -> None:
    httpx.get(f"{server.url}/health", headers={"x-request-id": "req-log-line"})
    deadline = time.monotonic() + 5  # the access line is written once the response is sent
    while not any("req-log-line" in line for line in server.lines()):
        assert time.monotonic() < deadline, "no log line for the request"
        time.sleep(0.05)
    records = [json.loads(line) for line in server.lines() if line.startswith("{")]
    assert all({"timestamp", "level", "logger", "message"} <= set(r) for r in records)
    access = [r for r in records if r.get("request_id") == "req-log-line"]
    assert access[0]["path"] == "/health"
    assert not [line for line in server.lines() if line and not line.startswith("{")]


def test_the_embedded_server_warns_that_its_jwt_key_is_generated(server: RunningServer) -> None:
    assert any("JWT_SECRET_KEY is not set" in line for line in server.lines())
