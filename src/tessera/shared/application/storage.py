"""Object storage: the `FileStorage` port every feature that keeps bytes uses (files,
avatars, backups). An S3-compatible bucket in production, a local folder in embedded mode.

Keys are made by the server (`uploads/documents/{id}.pdf`, `avatars/{user_id}/avatar-v3.png`,
`backups/2026-11-22/database-backup.sql.gz`): never a client's filename. Any UTF-8 key
without `..` segments, a leading `/` or control characters is valid, spaces and non-ASCII
included; an invalid one raises `InvalidKey`.

Bodies are streamed: `put` takes bytes or an async iterable of chunks and never needs the
whole object in memory; `open` yields the object in chunks. Every method raises
`DependencyUnavailable` when the store does not answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tessera.shared.domain.errors import InvalidInput, NotFound

Body = bytes | AsyncIterable[bytes]


class ObjectNotFound(NotFound):
    default_message = "The object does not exist."


class InvalidKey(InvalidInput):
    default_message = "The object key is not valid."


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the store knows of an object. `metadata` keys are lower-case."""

    key: str
    size_bytes: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client uploads one object straight to the store: send `method` to `url` with
    exactly `headers` (`Content-Type` and `Content-Length`) and the bytes as the body, before
    `expires_at`. The link binds that type and that exact size: the store refuses a request
    with another (S3: the signature covers both headers; the local route checks them). It
    stays usable until it expires, even after the object was read: a caller that must keep
    what arrived copies it to a key of its own (`copy`) and checks the copy."""

    url: str
    method: str
    headers: Mapping[str, str]
    expires_at: datetime


class FileStorage(Protocol):
    async def put(
        self,
        key: str,
        body: Body,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Write (or replace) the object; returns it as stored, with its size."""
        ...

    def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most `chunk_bytes`; `ObjectNotFound` is raised
        on the first iteration when it does not exist."""
        ...

    async def head(self, key: str) -> StoredObject:
        """The object's size, type and metadata; `ObjectNotFound` when it does not exist."""
        ...

    async def copy(self, source: str, destination: str) -> StoredObject:
        """Copy the object at `source` (bytes, content type, metadata) to `destination`,
        replacing what is there, inside the store (S3: a server-side copy). The copy is of
        one whole version of the source, even while the source is being replaced; it is
        independent of the source afterwards. Returns the copy as `head` would;
        `ObjectNotFound` when the source does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error (deleting is idempotent)."""
        ...

    def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object whose key starts with `prefix`, in key order."""
        ...

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str | None = None
    ) -> str:
        """A URL anyone holding it can GET the object from until it expires; with
        `filename`, the answer carries `Content-Disposition: attachment; filename*=…`."""
        ...

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        """A one-object upload a client can make without going through the API, of exactly
        `size_bytes` bytes of `content_type`."""
        ...

    async def ping(self) -> None:
        """Raise `DependencyUnavailable` unless the store answers (health checks)."""
        ...
