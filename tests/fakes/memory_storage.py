"""A dict-backed `FileStorage` for use-case tests: what was put (type, metadata, and the
chunks a streamed body came in), what was deleted, and a switch to make deletions fail.
Keys are checked as every adapter checks them; it runs in tests/contract/test_file_storage.py
beside the local folder and S3 (its links lead nowhere: the link tests are the adapters')."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

from tessera.shared.adapters.storage_keys import check_key, check_prefix
from tessera.shared.application.storage import (
    Body,
    FileStorage,
    ObjectNotFound,
    PresignedUpload,
    StoredObject,
)


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, StoredObject]] = {}
        self.put_chunk_sizes: list[int] = []
        self.puts = 0
        self.fail_deletes = False
        self.deleted: list[str] = []

    async def put(
        self,
        key: str,
        body: Body,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        download_name: str | None = None,
    ) -> StoredObject:
        check_key(key)
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
            key=key,
            size_bytes=len(data),
            content_type=content_type,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
            etag=hashlib.sha256(data).hexdigest(),
            last_modified=datetime.now(UTC),
            download_name=download_name,
        )
        self.objects[key] = (data, stored)
        return stored

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        if check_key(key) not in self.objects:
            raise ObjectNotFound()
        data = self.objects[key][0]
        for start in range(0, len(data), chunk_bytes):
            yield data[start : start + chunk_bytes]

    async def head(self, key: str) -> StoredObject:
        if check_key(key) not in self.objects:
            raise ObjectNotFound()
        return self.objects[key][1]

    async def delete(self, key: str) -> None:
        check_key(key)
        if self.fail_deletes:
            raise ConnectionError("storage down")
        self.deleted.append(key)
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        check_prefix(prefix)
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self.objects[key][1]

    async def download_url(self, key: str, *, expires_in: timedelta) -> str:
        check_key(key)
        return f"https://store.test/{key}?expires={int(expires_in.total_seconds())}"

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        check_key(key)
        expires_at = datetime.now(UTC) + expires_in
        headers = {"Content-Type": content_type, "Content-Length": str(size_bytes)}
        return PresignedUpload(f"https://store.test/{key}", "PUT", headers, expires_at)

    async def ping(self) -> None:
        return None

    def place(
        self,
        key: str,
        *,
        last_modified: datetime | None,
        data: bytes = b"x",
        download_name: str | None = None,
    ) -> None:
        """An object as if written at `last_modified` (None: the store cannot tell)."""
        stored = StoredObject(
            key=key,
            size_bytes=len(data),
            last_modified=last_modified,
            download_name=download_name,
        )
        self.objects[key] = (data, stored)

    def ages(self) -> dict[str, datetime | None]:
        """Every object's key and last modification."""
        return {key: stored.last_modified for key, (_, stored) in self.objects.items()}

    def data(self, key: str) -> bytes:
        return self.objects[key][0]


def _check(storage: MemoryStorage) -> FileStorage:
    return storage
