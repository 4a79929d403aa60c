"""An error that escapes the application reaches the edge: an outage is still a 503 with
`Retry-After`, anything else a 500, both in the envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.exceptions
from litestar.types import HTTPRequestEvent, Message, Receive, Scope, Send

from tessera.shared.http.edge import EdgeMiddleware


def failing(error: Exception) -> Any:
    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        raise error

    return app


async def answer(error: Exception) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> HTTPRequestEvent:
        return {"type": "http.request", "body": b"", "more_body": False}

    edge = EdgeMiddleware(failing(error), headers=(), max_body_bytes=1024)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "client": ("1.2.3.4", 1)}
    await edge(scope, receive, send)  # type: ignore[arg-type]
    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    return start["status"], dict(start["headers"]), json.loads(body["body"])


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (redis.exceptions.ConnectionError("No connection available."), b"1"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), b"5"),
    ],
)
async def test_an_outage_outside_the_application_is_a_503(
    error: Exception, retry_after: bytes
) -> None:
    status, headers, body = await answer(error)
    assert status == 503
    assert headers[b"retry-after"] == retry_after
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["retry_after"] == int(retry_after)


async def test_a_bug_outside_the_application_is_a_500() -> None:
    status, headers, body = await answer(RuntimeError("boom"))
    assert status == 500
    assert b"retry-after" not in headers
    assert body["error"]["code"] == "INTERNAL_ERROR"
