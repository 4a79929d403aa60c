"""Object storage: the `FileStorage` port every feature that keeps bytes uses (files,
avatars, backups). An S3-compatible bucket in production, a local folder in embedded mode.

Keys are made by the server (`uploads/documents/{id}.pdf`, `avatars/{user_id}/avatar-v3.png`,
`backups/2026-11-22/database-backup.sql.gz`): never a client's filename. Any UTF-8 key
without `..` segments, a leading `/` or control characters is valid, spaces and non-ASCII
included; an invalid one raises `InvalidKey`.

Bodies are streamed: `put` takes bytes or an async iterable of chunks and never needs the
whole object in memory; `open` yields the object in chunks. Every method raises
`DependencyUnavailable` when the store does not answer.

How a download link serves an object is decided when it is written: its content type and,
with a `download_name`, `Content-Disposition: attachment; filename*=UTF-8''…` are stored
with it (S3: object attributes), so a link needs nothing but the key and its expiry.
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
    """What the store knows of an object. `metadata` keys are lower-case; `download_name` is
    the name its downloads are saved as (None: served inline). `list` gives neither type nor
    download name."""

    key: str
    size_bytes: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: datetime | None = None
    download_name: str | None = None


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client uploads one object straight to the store: send `method` to `url` with
    exactly `headers` (`Content-Type` and `Content-Length`) and the bytes as the body, before
    `expires_at`. On S3 the link's signature covers only method, key and expiry (obstore
    signs the `host` header alone), so the store takes any type and size; the local route
    refuses another. Either way the caller checks what arrived. The link stays usable until
    it expires, even after the object was read: a caller that must keep what arrived reads
    it once and writes what it read to a key of its own (`put`), checking it on the way."""

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
        download_name: str | None = None,
    ) -> StoredObject:
        """Write (or replace) the object; returns it as stored, with its size. With
        `download_name`, its download links answer with `Content-Disposition: attachment;
        filename*=UTF-8''…` of that name; without, the object is served inline."""
        ...

    def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most `chunk_bytes`; `ObjectNotFound` is raised
        on the first iteration when it does not exist. They are the bytes of one version,
        even while the object is replaced meanwhile (S3: one GET, resumed only while the
        ETag is the same; the local folder: one open file)."""
        ...

    async def head(self, key: str) -> StoredObject:
        """The object's size, type, metadata and download name; `ObjectNotFound` when it
        does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error (deleting is idempotent)."""
        ...

    def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object whose key starts with `prefix`, in key order."""
        ...

    async def download_url(self, key: str, *, expires_in: timedelta) -> str:
        """A URL anyone holding it can GET the object from until it expires, answered with
        the content type and download name the object was written with."""
        ...

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        """A one-object upload a client can make without going through the API, of
        `size_bytes` bytes of `content_type` (what the store enforces: `PresignedUpload`)."""
        ...

    async def ping(self) -> None:
        """Raise `DependencyUnavailable` unless the store answers (health checks)."""
        ...
