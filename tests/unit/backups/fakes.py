"""Test doubles of the backups feature: a `FileStorage` in a dict, a fixed clock, scripted
dumpers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from tessera.features.backups.domain.backup import DumpFailed
from tessera.shared.application.storage import Body, ObjectNotFound, PresignedUpload, StoredObject


class DictFileStorage:
    """`FileStorage` keeping whole objects in a dict; `put` consumes a streamed body chunk
    by chunk and records the chunk sizes it was given."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, StoredObject]] = {}
        self.put_chunk_sizes: list[int] = []
        self.puts = 0

    async def put(
        self, key: str, body: Body, *, content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:  # fmt: skip
        self.puts += 1
        if isinstance(body, bytes):
            data = body
        else:
            parts = []
            async for chunk in body:
                self.put_chunk_sizes.append(len(chunk))
                parts.append(chunk)
            data = b"".join(parts)
        stored = StoredObject(
            key=key, size_bytes=len(data), content_type=content_type,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
            etag=hashlib.sha256(data).hexdigest(), last_modified=datetime.now(UTC),
        )  # fmt: skip
        self.objects[key] = (data, stored)
        return stored

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        if key not in self.objects:
            raise ObjectNotFound()
        data = self.objects[key][0]
        for start in range(0, len(data), chunk_bytes):
            yield data[start : start + chunk_bytes]

    async def head(self, key: str) -> StoredObject:
        if key not in self.objects:
            raise ObjectNotFound()
        return self.objects[key][1]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self.objects[key][1]

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str | None = None
    ) -> str:
        return f"memory://{key}"

    async def presign_upload(
        self, key: str, *, content_type: str, expires_in: timedelta
    ) -> PresignedUpload:
        return PresignedUpload(f"memory://{key}", "PUT", {}, datetime.now(UTC) + expires_in)

    async def ping(self) -> None:
        return None

    def data(self, key: str) -> bytes:
        return self.objects[key][0]


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class ScriptedDumper:
    """Yields `chunks`, then raises `DumpFailed` if `fail_after` is set (after that many
    chunks), as pg_dump exiting non-zero half-way would."""

    def __init__(self, chunks: Sequence[bytes], *, fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after
        self.runs = 0

    def dump(self) -> AsyncIterator[bytes]:
        return self._dump()

    async def _dump(self) -> AsyncIterator[bytes]:
        self.runs += 1
        for index, chunk in enumerate(self._chunks):
            if self._fail_after is not None and index == self._fail_after:
                raise DumpFailed("pg_dump exited with status 1: connection lost")
            yield chunk
        if self._fail_after is not None:
            raise DumpFailed("pg_dump exited with status 1: connection lost")
