"""The response envelope of SPEC §3.1: one shape for every success and every error."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import msgspec

from tessera.shared.domain.pagination import Page
from tessera.shared.http.context import current_request_id

T = TypeVar("T")
Item = TypeVar("Item")


class Meta(msgspec.Struct):
    timestamp: str
    request_id: str


class Pagination(msgspec.Struct):
    page: int
    limit: int
    total_items: int
    total_pages: int
    has_next: bool
    has_prev: bool


class Success(msgspec.Struct, Generic[T], kw_only=True, omit_defaults=True):
    """A success with something to return: `data` is always there (the OpenAPI document
    says it is required and never null, from this type)."""

    status: Literal["success"]
    data: T
    message: str | None = None
    meta: Meta


class Done(msgspec.Struct, kw_only=True):
    """A success with nothing to return but a message (`DELETE`, `logout`...): no `data`."""

    status: Literal["success"]
    message: str
    meta: Meta


class Paginated(msgspec.Struct, Generic[T], kw_only=True):
    status: Literal["success"]
    data: list[T]
    pagination: Pagination
    meta: Meta


class ErrorDetail(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None
    retry_after: int | None = None


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    status: Literal["error"]
    error: ErrorDetail
    meta: Meta


def meta() -> Meta:
    return Meta(timestamp=_timestamp(), request_id=current_request_id())


_last_second: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """Now in UTC to the second; formatted once per second, not once per response."""
    global _last_second  # noqa: PLW0603 - a one-entry cache
    second = int(time.time())
    if _last_second[0] != second:
        formatted = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_second = (second, formatted)
    return _last_second[1]


def ok(data: T, *, message: str | None = None) -> Success[T]:
    return Success(status="success", data=data, message=message, meta=meta())


def done(message: str) -> Done:
    return Done(status="success", message=message, meta=meta())


def paginated(page: Page[Item], to_wire: Callable[[Item], T]) -> Paginated[T]:
    pagination = Pagination(
        page=page.request.page,
        limit=page.request.limit,
        total_items=page.total_items,
        total_pages=page.total_pages,
        has_next=page.has_next,
        has_prev=page.has_prev,
    )
    data = [to_wire(item) for item in page.items]
    return Paginated(status="success", data=data, pagination=pagination, meta=meta())


def error_envelope(detail: ErrorDetail) -> ErrorEnvelope:
    return ErrorEnvelope(status="error", error=detail, meta=meta())
