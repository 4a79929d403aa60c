from __future__ import annotations

import json
import logging

import pytest
import structlog

from tessera.main.logs import configure_logging
from tessera.shared.http.context import request_id_var


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> object:
    configure_logging("INFO")

    def read() -> list[dict[str, object]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]

    yield read
    structlog.contextvars.clear_contextvars()


def test_every_line_is_json_with_the_standard_fields_and_request_id(log_lines) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-abc")
    structlog.stdlib.get_logger("tessera.test").info("hello", user_id="u1")
    logging.getLogger("sqlalchemy.pool").warning("pool %s", "exhausted")
    first, second = log_lines()
    assert list(first)[:5] == ["timestamp", "level", "logger", "message", "request_id"]
    assert first["message"] == "hello"
    assert first["level"] == "INFO"
    assert first["user_id"] == "u1"
    assert second["logger"] == "sqlalchemy.pool"
    assert second["message"] == "pool exhausted"
    assert second["request_id"] == "req-abc"


def test_the_served_requests_id_is_on_every_line_without_binding_it(log_lines) -> None:
    token = request_id_var.set("req-served")
    try:
        structlog.stdlib.get_logger("tessera.test").info("inside")
        logging.getLogger("sqlalchemy.pool").warning("also inside")
    finally:
        request_id_var.reset(token)
    structlog.stdlib.get_logger("tessera.test").info("outside")
    inside, also, outside = log_lines()
    assert inside["request_id"] == also["request_id"] == "req-served"
    assert "request_id" not in outside


def test_secrets_tokens_and_emails_never_reach_the_output(log_lines) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    structlog.stdlib.get_logger("tessera.test").info(
        "login by alice@example.com",
        password="hunter2-secret",
        refresh_token="rt-value",
        headers={"Authorization": f"Bearer {jwt}"},
        dsn="postgresql://app:db-pass@db/tessera",
    )
    logging.getLogger("library").info("token %s for bob@example.org", jwt)
    text = json.dumps(log_lines())
    for secret in ("hunter2-secret", "rt-value", jwt, "db-pass", "alice@", "bob@"):
        assert secret not in text
    assert "a***@example.com" in text
    assert "[REDACTED]" in text


def test_exceptions_are_logged_as_one_line_with_the_traceback(log_lines) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.stdlib.get_logger("tessera.test").exception("failed")
    (line,) = log_lines()
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in str(line["exception"])
