"""A minimal HTTP/1.1 keep-alive client on asyncio streams, cheap enough to generate load.

A `Request` is encoded once into its wire bytes (`Request.prepare`); a `Connection` sends
one prepared request at a time (no pipelining) and reads the whole answer: the status
line, the headers up to the blank line, then a `Content-Length` body, a chunked body, or a
body delimited by the server closing the connection. After an answer the server closes
(`Connection: close`, HTTP/1.0 without keep-alive, close-delimited body), `reusable` is
False and the caller opens a new connection.

Plain `http://` only; no TLS, redirects, cookies, compression or pipelining. Malformed
answers raise `ProtocolError`; a dropped connection raises `asyncio.IncompleteReadError`
or an `OSError`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_BODYLESS_STATUSES = frozenset({204, 304})


class ProtocolError(ValueError):
    """The server answered something that is not HTTP/1.x as this client understands it."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: the TCP address and the `Host` header value."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs with a host are supported: {url!r}")
        return cls(parts.hostname, parts.port or 80)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


def path_of(url: str) -> str:
    """The request target of a URL: its path (at least `/`) and query."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Request:
    """One request to send, as a benchmark describes it; `prepare` encodes it."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(
        cls,
        path: str,
        payload: object,
        *,
        method: str = "POST",
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """A request with a JSON body and, given a token, an `Authorization: Bearer` header."""
        extra = {"Content-Type": "application/json", **(bearer(token) if token else {})}
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(path, method, {**extra, **(headers or {})}, body)

    def prepare(self, origin: Origin) -> Prepared:
        return Prepared(self._encode(origin), expects_body=self.method.upper() != "HEAD")

    def _encode(self, origin: Origin) -> bytes:
        method = self.method.upper()
        names = {name.lower() for name in self.headers}
        lines = [f"{method} {self.path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {origin.authority}")
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if "content-length" not in names and (self.body or method in _BODY_METHODS):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request's wire bytes; `expects_body` is False for HEAD, whose answer has none."""

    wire: bytes
    expects_body: bool = True


class Connection:
    """One keep-alive connection: `exchange` a prepared request for the answer's status."""

    __slots__ = ("_reader", "_writer", "reusable")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True

    @classmethod
    async def open(cls, origin: Origin) -> Connection:
        reader, writer = await asyncio.open_connection(origin.host, origin.port)
        return cls(reader, writer)

    async def exchange(self, request: Prepared) -> int:
        """Send the request, read the whole answer; its status code."""
        self._writer.write(request.wire)
        await self._writer.drain()
        status, head = await self._read_head()
        self.reusable = _keeps_alive(head)
        if request.expects_body and status not in _BODYLESS_STATUSES:
            await self._read_body(head)
        return status

    def close(self) -> None:
        self.reusable = False
        self._writer.close()

    def abort(self) -> None:
        """Drop the connection now: a pending `exchange` fails with a transport error."""
        self.reusable = False
        self._writer.transport.abort()

    async def _read_head(self) -> tuple[int, bytes]:
        """The final (non-1xx) status and head, lower-cased, from the status line on."""
        while True:
            head = await self._reader.readuntil(_HEAD_END)
            status = _status(head)
            if status >= 200:
                return status, head.lower()

    async def _read_body(self, head: bytes) -> None:
        if _is_chunked(head):
            await self._read_chunked()
        elif (length := _content_length(head)) is not None:
            if length:
                await self._reader.readexactly(length)
        else:
            await self._reader.read()
            self.reusable = False

    async def _read_chunked(self) -> None:
        while size := _chunk_size(await self._reader.readuntil(_CRLF)):
            await self._reader.readexactly(size + len(_CRLF))
        while await self._reader.readuntil(_CRLF) != _CRLF:
            pass  # a trailer field


def _status(head: bytes) -> int:
    if not head.startswith(b"HTTP/1.") or head[8:9] != b" " or not head[9:12].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {head[:40]!r}")
    return int(head[9:12])


def _header(head: bytes, name: bytes) -> bytes | None:
    """A header's value in a lower-cased head; each field line follows a CRLF."""
    start = head.find(_CRLF + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    return head[start : head.index(_CRLF, start)].strip()


def _keeps_alive(head: bytes) -> bool:
    connection = _header(head, b"connection") or b""
    if head.startswith(b"http/1.0"):
        return b"keep-alive" in connection
    return b"close" not in connection


def _is_chunked(head: bytes) -> bool:
    coding = _header(head, b"transfer-encoding")
    return coding is not None and coding.rsplit(b",", 1)[-1].strip() == b"chunked"


def _content_length(head: bytes) -> int | None:
    value = _header(head, b"content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise ProtocolError(f"bad Content-Length: {value!r}")
    return int(value)


def _chunk_size(line: bytes) -> int:
    try:
        return int(line.split(b";", 1)[0], 16)
    except ValueError:
        raise ProtocolError(f"bad chunk size line: {line[:40]!r}") from None
