"""A dict-backed `FileStorage` for use-case tests: what was put, with its type and metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from tessera.shared.application.storage import (
    Body,
    ObjectNotFound,
    PresignedUpload,
    StoredObject,
)


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, StoredObject]] = {}
        self.fail_deletes = False
        self.deleted: list[str] = []

    async def put(
        self, key: str, body: Body, *, content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:  # fmt: skip
        data = body if isinstance(body, bytes) else b"".join([c async for c in body])
        stored = StoredObject(key, len(data), content_type, dict(metadata or {}))
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
        if self.fail_deletes:
            raise ConnectionError("storage down")
        self.deleted.append(key)
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self.objects[key][1]

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str | None = None
    ) -> str:
        return f"https://store.test/{key}?expires={int(expires_in.total_seconds())}"

    async def presign_upload(
        self, key: str, *, content_type: str, expires_in: timedelta
    ) -> PresignedUpload:
        raise NotImplementedError

    async def ping(self) -> None:
        return None
