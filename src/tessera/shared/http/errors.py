"""Exceptions to error envelopes: the one place that decides status codes and error codes."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from tessera.shared.adapters.outages import DOWN_RETRY_AFTER, OUTAGES
from tessera.shared.domain import patterns
from tessera.shared.domain.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
)
from tessera.shared.http.envelope import ErrorDetail, ErrorEnvelope, error_envelope

logger = structlog.stdlib.get_logger("tessera.http")


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}
_BY_STATUS = {status: code for code, status in STATUS.items()}

# The bases every feature error derives from; features may add entries for finer codes.
DOMAIN_ERROR_CODES: dict[type[DomainError], ErrorCode] = {
    InvalidInput: ErrorCode.VALIDATION_ERROR,
    UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    Unauthenticated: ErrorCode.UNAUTHORIZED,
    Forbidden: ErrorCode.FORBIDDEN,
    NotFound: ErrorCode.NOT_FOUND,
    Conflict: ErrorCode.CONFLICT,
    DependencyUnavailable: ErrorCode.SERVICE_UNAVAILABLE,
    RateLimited: ErrorCode.RATE_LIMIT_EXCEEDED,
}

_DEFAULT_MESSAGES = {
    ErrorCode.NOT_FOUND: "The requested resource was not found.",
    ErrorCode.METHOD_NOT_ALLOWED: "This method is not allowed on this resource.",
    ErrorCode.PAYLOAD_TOO_LARGE: "The request body is too large.",
    ErrorCode.INTERNAL_ERROR: "An unexpected error occurred.",
}


def error_response(
    code: ErrorCode,
    message: str,
    *,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: int | None = None,
) -> Response[ErrorEnvelope]:
    headers = dict(headers or {})
    has_retry_after = any(name.lower() == "retry-after" for name in headers)
    if code is ErrorCode.SERVICE_UNAVAILABLE and retry_after is None and not has_retry_after:
        retry_after = DOWN_RETRY_AFTER  # every 503 says when to come back
    if retry_after is not None and not has_retry_after:
        headers["Retry-After"] = str(retry_after)
    detail = ErrorDetail(
        code=code.value, message=message, field=field, details=details, retry_after=retry_after
    )
    return Response(
        error_envelope(detail),
        status_code=STATUS[code],
        headers=headers,
        media_type=MediaType.JSON,
    )


class DomainErrorHandler:
    """Maps a `DomainError` to its code by walking the error's class hierarchy."""

    def __init__(self, codes: Mapping[type[DomainError], ErrorCode]) -> None:
        self._codes = dict(codes)

    def __call__(self, _request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
        code = next(
            (self._codes[cls] for cls in type(exc).__mro__ if cls in self._codes),
            ErrorCode.INTERNAL_ERROR,
        )
        if code is ErrorCode.INTERNAL_ERROR:
            logger.error("unmapped domain error", exc_info=exc)
            return error_response(code, _DEFAULT_MESSAGES[code])
        if isinstance(exc, RateLimited):
            return error_response(
                code, exc.message, details=exc.details, retry_after=exc.retry_after
            )
        return error_response(code, exc.message, field=exc.field, details=exc.details)


def http_exception_handler(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own exceptions: routing (404, 405), body limits (413), validation (400)."""
    code = _BY_STATUS.get(exc.status_code)
    if code is None:
        code = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR
    if isinstance(exc, ValidationException) or exc.status_code == 400:
        return _validation_response(exc)
    if code is ErrorCode.INTERNAL_ERROR:
        logger.error("internal HTTP exception", exc_info=exc)
        return error_response(code, _DEFAULT_MESSAGES[code])
    message = _DEFAULT_MESSAGES.get(code) or exc.detail
    return error_response(code, message, headers=exc.headers)


_NAMED_FIELD = re.compile(r"field `([^`]+)`")
_PHRASES = (
    (re.compile(r"Object missing required field `([^`]+)`"), r"\1 is required."),
    (re.compile(r"Object contains unknown field `([^`]+)`"), r"\1 is not a known field."),
)


def _validation_response(exc: HTTPException) -> Response[Any]:
    if isinstance(exc.__cause__, SerializationException):
        message = "The request body is not valid JSON."
        return error_response(ErrorCode.VALIDATION_ERROR, message, details={"reason": exc.detail})
    problems = [p for p in exc.extra if isinstance(p, dict)] if isinstance(exc.extra, list) else []
    first = problems[0] if problems else {}
    message = str(first.get("message") or "The request is not valid.")
    field = first.get("key") or None
    if field == "data" and message == "'data'":
        return error_response(ErrorCode.VALIDATION_ERROR, "A JSON request body is required.")
    if field in (None, "data"):  # the body as a whole: name the field msgspec complained of
        named = _NAMED_FIELD.search(message)
        field = named.group(1) if named else None
    for problem in problems:
        problem["message"] = in_words(str(problem.get("message", "")), problem.get("key"))
    details = {"errors": problems} if len(problems) > 1 else None
    text = in_words(message, field)
    return error_response(ErrorCode.VALIDATION_ERROR, text, field=field, details=details)


_MATCHING = re.compile(r"Expected `?str`? matching regex (?P<regex>'.*'|\".*\")$")
_LENGTH = re.compile(r"Expected `?(?P<kind>str|array|object)`? of length (?P<op>[<>]=) (?P<n>\d+)$")
_BOUND = re.compile(r"Expected `?(?:int|float|number)`? (?P<op>[<>]=?) (?P<n>\S+)$")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)$")
_COMPARED = {">=": "at least", "<=": "at most", ">": "greater than", "<": "less than"}
_UNITS = {  # (one, more)
    "str": ("character long", "characters long"),
    "array": ("item", "items"),
    "object": ("entry", "entries"),
}


def in_words(message: str, field: str | None) -> str:
    """A validation message from msgspec or Litestar as a sentence, saying what is expected
    in words: never the regular expression of a pattern (`patterns.described` keeps its
    words), nor msgspec's notation for lengths and bounds."""
    subject = field or "The value"
    if found := _MATCHING.match(message):
        words = patterns.in_words(ast.literal_eval(found["regex"]))
        return f"{subject} must be {words}." if words else f"{subject} is not in the expected form."
    if found := _LENGTH.match(message):
        compared, unit = _COMPARED[found["op"]], _UNITS[found["kind"]][found["n"] != "1"]
        verb = "be" if found["kind"] == "str" else "hold"
        return f"{subject} must {verb} {compared} {found['n']} {unit}."
    if found := _BOUND.match(message):
        return f"{subject} must be {_COMPARED[found['op']]} {found['n']}."
    if found := _ENUM.match(message):
        return f"{found['value']} is not one of the values {subject} accepts."
    for pattern, replacement in _PHRASES:
        message = pattern.sub(replacement, message)
    return message.replace("`", "")


def unhandled_exception_handler(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A driver error meaning a dependency is down or saturated (see `outage`) is a 503 with
    `Retry-After`, so clients come back later; anything else is a bug: 500."""
    down = OUTAGES.report(exc)
    if down is not None:
        return error_response(
            ErrorCode.SERVICE_UNAVAILABLE,
            DependencyUnavailable.default_message,
            retry_after=down.retry_after,
        )
    logger.error("unhandled exception", exc_info=exc)
    return error_response(ErrorCode.INTERNAL_ERROR, _DEFAULT_MESSAGES[ErrorCode.INTERNAL_ERROR])
