"""The outermost ASGI layer: request ids, security headers and the access log.

It wraps Litestar's whole handler rather than being a Litestar middleware, because Litestar
runs middleware only for matched routes; an unknown path must get a request id too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Protocol

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

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

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self._finish_headers(message.get("headers", []), request_id)
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
                await self._app(scope, receive, send_with_headers)
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
                        send_with_headers, 503, "SERVICE_UNAVAILABLE",
                        DependencyUnavailable.default_message, retry_after=down.retry_after,
                    )  # fmt: skip
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
        out.append((b"x-request-id", request_id.encode()))
        out.extend(h for h in self._headers if h[0] not in present)
        if b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        return out


_WANTED = frozenset({b"x-request-id", b"content-length", b"content-type"})


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
