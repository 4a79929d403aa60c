"""The outermost ASGI layer: request ids, security headers, the access log, and HTTP hygiene
(`HEAD` wherever `GET` answers; a connection whose request body was refused is closed).

It wraps Litestar's whole handler rather than being a Litestar middleware, because Litestar
runs middleware only for matched routes; an unknown path must get a request id too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Protocol, cast

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from tessera.shared.adapters.outages import OUTAGES
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.http.context import choose_request_id, request_id_var
from tessera.shared.http.envelope import ErrorDetail, error_envelope

logger = structlog.stdlib.get_logger("tessera.access")
_access_level = logging.getLogger("tessera.access")
"""Asked first, for every request: at WARNING and above (production's usual level) an access
line costs one cached level check instead of a pass through structlog."""

_BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_TOO_LARGE = "The request body is too large."
_DRAIN_BYTES = 64 * 1024
_INTERNAL = "An unexpected error occurred."
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class Observe(Protocol):
    """Told about every answered HTTP request (metrics)."""

    def __call__(self, method: str, route: str | None, status: int, seconds: float) -> None: ...


def security_headers(*, production: bool) -> tuple[tuple[bytes, bytes], ...]:
    return (*_BASE_HEADERS, _HSTS) if production else _BASE_HEADERS


class EdgeMiddleware:
    """Request id, security headers, access log, and an early 413 for oversized bodies.

    A declared `Content-Length` over `max_body_bytes` is refused before routing, as a proxy
    would; multipart and octet-stream uploads, and any body sent to one of `streaming_paths`
    (raw uploads of any type, such as signed local-storage uploads), are left to the
    route's own limit.

    `HEAD` is served as `GET` (RFC 9110 §9.3.2): same status and headers, the body dropped.
    A response that starts before the request's body was read to its end (this 413, a 415,
    a 401, Litestar's own 413 for a chunked body) first reads and drops the rest when it is
    small (`_DRAIN_BYTES`), so the connection stays usable; otherwise it says
    `Connection: close` and the server closes the connection after it, rather than leave
    the unread rest to be taken for the next request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: Iterable[tuple[bytes, bytes]],
        max_body_bytes: int,
        streaming_paths: Iterable[str] = (),
        observe: Observe | None = None,
    ) -> None:
        self._app = app
        self._headers = tuple(headers)
        self._max_body = max_body_bytes
        self._streaming_paths = frozenset(streaming_paths)
        self._observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        headers = _wanted_headers(scope)
        request_id = choose_request_id(headers.get(b"x-request-id"))
        token = request_id_var.set(request_id)  # log lines read it (main.logs.add_request_id)
        started = time.perf_counter()
        status = 0
        head = scope["type"] == ScopeType.HTTP and scope["method"] == "HEAD"
        body = _body_progress(headers, receive) if scope["type"] == ScopeType.HTTP else None
        app_scope = cast("Scope", {**scope, "method": "GET"}) if head else scope
        http1 = scope.get("http_version", "1.1") in ("1.0", "1.1")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                finished = self._finish_headers(message.get("headers", []), request_id)
                if body is not None and not await body.drain(_DRAIN_BYTES) and http1:
                    finished.append((b"connection", b"close"))  # HTTP/2 streams end alone
                message["headers"] = finished
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            if (
                scope["type"] == ScopeType.HTTP
                and scope.get("path") not in self._streaming_paths
                and self._too_large(headers)
            ):
                status = 413
                await _send_error(send_with_headers, 413, "PAYLOAD_TOO_LARGE", _TOO_LARGE)
            else:
                await self._app(app_scope, receive if body is None else body, send_with_headers)
        except Exception as error:
            down = OUTAGES.report(error)
            if down is None:
                logger.exception("request failed outside the application")
            if status == 0 and scope["type"] == ScopeType.HTTP:
                if down is None:
                    status = 500
                    await _send_error(send_with_headers, 500, "INTERNAL_ERROR", _INTERNAL)
                else:
                    status = 503
                    await _send_error(
                        send_with_headers,
                        503,
                        "SERVICE_UNAVAILABLE",
                        DependencyUnavailable.default_message,
                        retry_after=down.retry_after,
                    )
        finally:
            elapsed = time.perf_counter() - started
            _log_access(scope, status, elapsed)
            if self._observe is not None and scope["type"] == ScopeType.HTTP:
                # The route template, set by Litestar's router; None when nothing matched.
                self._observe(scope["method"], scope.get("path_template"), status, elapsed)
            request_id_var.reset(token)

    def _too_large(self, headers: dict[bytes, str]) -> bool:
        length = headers.get(b"content-length")
        if length is None or not length.isdigit() or int(length) <= self._max_body:
            return False
        media_type = headers.get(b"content-type", "").lower()
        return not media_type.startswith(("multipart/", "application/octet-stream"))

    def _finish_headers(
        self, headers: Iterable[tuple[bytes, bytes]], request_id: str
    ) -> list[tuple[bytes, bytes]]:
        out = list(headers)
        present = {name.lower() for name, _ in out}
        if b"allow" in present:  # 405 and OPTIONS: wherever GET is allowed, so is HEAD
            out = [
                (name, _with_head(value) if name.lower() == b"allow" else value)
                for name, value in out
            ]
        out.append((b"x-request-id", request_id.encode()))
        out.extend(h for h in self._headers if h[0] not in present)
        if b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        return out


class _BodyProgress:
    """The app's `receive`, counting the request body read so far."""

    __slots__ = ("_declared", "_read", "_receive", "done")

    def __init__(self, receive: Receive, declared: int | None) -> None:
        self._receive = receive
        self._declared = declared
        self._read = 0
        self.done = False

    async def __call__(self) -> ReceiveMessage:
        message = await self._receive()
        if message["type"] == "http.request":
            self._read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:
            self.done = True  # the client is gone
        return message

    async def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body if it is at most `limit` bytes: whether the
        body is now read to its end."""
        if self._declared is not None and self._declared - self._read > limit:
            return False
        stop = self._read + limit
        while not self.done and self._read <= stop:
            await self()
        return self.done


def _body_progress(headers: dict[bytes, str], receive: Receive) -> _BodyProgress | None:
    """A counting `receive` for a request that has a body, else None."""
    length = headers.get(b"content-length", "").strip()
    if b"transfer-encoding" in headers:
        return _BodyProgress(receive, None)
    if length in ("", "0"):
        return None
    return _BodyProgress(receive, int(length) if length.isdigit() else None)


def _with_head(allow: bytes) -> bytes:
    methods = [method.strip() for method in allow.split(b",")]
    if b"GET" in methods and b"HEAD" not in methods:
        methods.append(b"HEAD")
    return b", ".join(methods)


_WANTED = frozenset({b"x-request-id", b"content-length", b"content-type", b"transfer-encoding"})


def _wanted_headers(scope: Scope) -> dict[bytes, str]:
    """The request headers this layer reads, in one pass (the first of each name wins)."""
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    if not _access_level.isEnabledFor(logging.INFO):
        return
    logger.info(
        "request",
        method=scope.get("method", "WEBSOCKET"),
        path=scope.get("path"),
        status=status,
        duration_ms=round(seconds * 1000, 2),
    )


async def _send_error(
    send: Send, status: int, code: str, message: str, *, retry_after: int | None = None
) -> None:
    detail = ErrorDetail(code=code, message=message, retry_after=retry_after)
    body = msgspec.json.encode(error_envelope(detail))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
