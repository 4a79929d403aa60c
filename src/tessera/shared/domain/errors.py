"""Errors a use case raises on purpose.

Features subclass these (`EmailAlreadyRegistered(Conflict)`); the HTTP layer maps each base to
its status and code, so a new error needs no new mapping unless it wants a different code.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure; `message` is safe to show to the caller."""

    default_message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.details = details
        super().__init__(self.message)


class InvalidInput(DomainError):
    default_message = "The request is not valid."


class UnsupportedMediaType(DomainError):
    """Content of a type the operation does not take (a file type that is not stored)."""

    default_message = "This type of content is not accepted."


class Unauthenticated(DomainError):
    default_message = "Authentication is required."


class Forbidden(DomainError):
    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    default_message = "The resource was not found."


class Conflict(DomainError):
    default_message = "The request conflicts with the current state of the resource."


class DependencyUnavailable(DomainError):
    """A database, cache or other service the request needs does not answer."""

    default_message = "A service this request depends on is unavailable. Try again shortly."


class RateLimited(DomainError):
    """Too many attempts; the caller may try again after `retry_after` seconds."""

    default_message = "Too many requests. Please try again later."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
