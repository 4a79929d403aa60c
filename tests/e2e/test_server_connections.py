"""A keep-alive connection after a refused request body, over raw sockets against `tessera
serve` (granian) on the production stack: the server either reads the rest of the body and
keeps the connection usable, or says `Connection: close` and closes it; it never leaves the
unread rest of a body to be taken for the next request."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import services
from tests.e2e.processes import RunningServer, running_server

pytestmark = pytest.mark.slow

ATTEMPTS = 10  # before the fix, about one connection in five was lost without a word
HOST = b"Host: tessera.test\r\n"
HEALTH = b"GET /health HTTP/1.1\r\n" + HOST + b"\r\n"
LOGIN = b"POST /api/v1/auth/login HTTP/1.1\r\n" + HOST
JSON = b"Content-Type: application/json\r\n"
TWO_MB = 2_000_000


@pytest.fixture
async def environment(postgres_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    await services.migrate(postgres_url)
    return {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "JWT_SECRET_KEY": "connections-test-key-" + "k" * 30,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(tmp_path),
    }


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, environment) as running:
        yield running


class Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers


def read_response(connection: socket.socket) -> Response:
    """One response, its body read to its declared end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = connection.recv(65536)
        assert chunk, "the connection closed inside a response body"
        body += chunk
    return Response(int(status_line.split()[1]), headers)


def closed(connection: socket.socket) -> bool:
    """Whether the server closes the connection (end of stream, or a reset because the
    unread body was still in its buffer) rather than answer another request on it."""
    try:
        connection.sendall(HEALTH)
        return connection.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def in_background(send: Callable[[], None]) -> threading.Thread:
    """Send as a client does, while the response may already be coming back."""

    def quietly() -> None:
        with contextlib.suppress(OSError):  # the server closed the connection: the point
            send()

    thread = threading.Thread(target=quietly, daemon=True)
    thread.start()
    return thread


def declared_two_mb_sent_in_part(connection: socket.socket) -> None:
    head = LOGIN + JSON + f"Content-Length: {TWO_MB}\r\n\r\n".encode()
    connection.sendall(head + b" " * 1000)


def declared_two_mb_sent_whole(connection: socket.socket) -> None:
    head = LOGIN + JSON + f"Content-Length: {TWO_MB}\r\n\r\n".encode()
    in_background(lambda: connection.sendall(head + b" " * TWO_MB))


def chunked_past_the_limit(connection: socket.socket) -> None:
    """No length declared: the app's own limit stops reading past 1 MiB."""

    def send() -> None:
        connection.sendall(LOGIN + JSON + b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(40):
            connection.sendall(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
        connection.sendall(b"0\r\n\r\n")

    in_background(send)


def small_body_of_another_type(connection: socket.socket) -> None:
    connection.sendall(LOGIN + b"Content-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789")


def small_body_refused_unread(connection: socket.socket) -> None:
    """A body the handler never reads: logout takes none, and the token is no good."""
    body = b'{"some": "thing"}'
    connection.sendall(
        b"POST /api/v1/auth/logout HTTP/1.1\r\n"
        + HOST
        + JSON
        + b"Authorization: Bearer not-a-token\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.mark.timeout(180)
def test_after_a_refused_body_the_connection_is_kept_usable_or_closed_cleanly(
    server: RunningServer,
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    closing = (declared_two_mb_sent_in_part, declared_two_mb_sent_whole, chunked_past_the_limit)
    kept = ((small_body_of_another_type, 415), (small_body_refused_unread, 401))
    wrong: list[tuple[str, int, object]] = []
    for _ in range(ATTEMPTS):
        for start in closing:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
                start(connection)
                refused = read_response(connection)
                said_close = refused.headers.get("connection") == "close"
                if (refused.status, said_close, closed(connection)) != (413, True, True):
                    wrong.append((start.__name__, refused.status, refused.headers))
        for start, status in kept:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
                start(connection)
                refused = read_response(connection)
                connection.sendall(HEALTH)
                following = read_response(connection)
                if (refused.status, following.status) != (status, 200):
                    wrong.append((start.__name__, refused.status, following.status))
    assert wrong == []
