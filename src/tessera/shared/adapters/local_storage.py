"""`FileStorage` in a local folder (embedded mode), and the signed tokens that stand in for
presigned URLs.

Layout under `root`:

    objects/<key>          the bytes; the key's segments are folders
    metadata/<key>.json    content type, metadata, download name and sha256 etag (a sidecar
                           per object)
    tmp/                   writes in progress, renamed into place when complete

Two trees instead of a sidecar next to each file, so no key can collide with a sidecar and
listing never sees one. A write goes to `tmp/` and is renamed over the old object
(`os.replace`, atomic), then its sidecar likewise: a reader sees the old or the new bytes,
never a torn file. Reads and writes move one chunk at a time through a thread.

A folder cannot hold both `a` and `a/b` (S3 can): writing one when the other exists raises
`InvalidKey`. Server-made keys (`uploads/documents/{id}.pdf`) never meet this.

A folder cannot presign either, so `download_url` and `presign_upload` return URLs of the
app's own route (`LocalStorageController`), `{base_url}/api/v1/storage/objects?token=…`,
whose token `UrlSigner` signs with HMAC-SHA256.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal

from tessera.shared.adapters.storage_keys import check_key, check_prefix
from tessera.shared.application.storage import (
    Body,
    InvalidKey,
    ObjectNotFound,
    PresignedUpload,
    StoredObject,
)
from tessera.shared.domain.errors import DependencyUnavailable, Forbidden

STORAGE_ROUTE = "/api/v1/storage/objects"
_WRITE_CHUNK = 1024 * 1024
_SIGNING_LABEL = b"tessera/local-storage-url/v1"

Method = Literal["GET", "PUT"]


class InvalidStorageToken(Forbidden):
    default_message = "The link is invalid or has expired."


@dataclass(frozen=True, slots=True)
class StorageGrant:
    """What a token allows: `method` on `key` until `expires_at` (Unix seconds); for PUT
    the Content-Type the upload must declare and its exact size in bytes."""

    key: str
    method: Method
    expires_at: int
    content_type: str | None = None
    size_bytes: int | None = None


class UrlSigner:
    """Compact tokens `<payload>.<mac>` (base64url, no padding): the payload is JSON of a
    `StorageGrant`, the mac HMAC-SHA256 over the payload. The secret is derived from the JWT
    key (HMAC of a fixed label), so a storage token is never a valid JWT signature."""

    def __init__(self, secret: bytes, *, now: Callable[[], datetime] | None = None) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._secret = secret
        self._now = now or (lambda: datetime.now(UTC))

    @classmethod
    def from_jwt_secret(cls, jwt_secret_key: str) -> UrlSigner:
        return cls(hmac.digest(jwt_secret_key.encode(), _SIGNING_LABEL, "sha256"))

    def now(self) -> datetime:
        return self._now()

    def sign(self, grant: StorageGrant) -> str:
        fields: dict[str, Any] = {"k": grant.key, "m": grant.method, "e": grant.expires_at}
        if grant.content_type is not None:
            fields["t"] = grant.content_type
        if grant.size_bytes is not None:
            fields["s"] = grant.size_bytes
        payload = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{payload}.{_b64(self._mac(payload))}"

    def verify(self, token: str, method: Method) -> StorageGrant:
        """The grant when the token is ours, for `method`, and unexpired; else
        `InvalidStorageToken` (one answer for every failure)."""
        payload, _, mac = token.partition(".")
        try:
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise InvalidStorageToken()
            fields = json.loads(_unb64(payload))
            grant = StorageGrant(
                key=fields["k"],
                method=fields["m"],
                expires_at=int(fields["e"]),
                content_type=fields.get("t"),
                size_bytes=_optional_int(fields.get("s")),
            )
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise InvalidStorageToken() from None
        if grant.method != method or grant.expires_at <= self._now().timestamp():
            raise InvalidStorageToken()
        return grant

    def _mac(self, payload: str) -> bytes:
        return hmac.digest(self._secret, payload.encode("ascii"), "sha256")


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise ValueError("not an integer")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, UnicodeEncodeError) as error:
        raise ValueError("not base64url") from error


class LocalFileStorage:
    def __init__(self, root: Path, signer: UrlSigner, base_url: str) -> None:
        self._root = root
        self._objects = root / "objects"
        self._metadata = root / "metadata"
        self._tmp = root / "tmp"
        self._signer = signer
        self._base_url = base_url.rstrip("/")

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
        meta = {name.lower(): value for name, value in (metadata or {}).items()}
        await _io(self._tmp.mkdir, parents=True, exist_ok=True)
        temp = self._tmp / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            handle: BinaryIO = await _io(temp.open, "wb")
            try:
                async for chunk in _chunks(body):
                    digest.update(chunk)
                    size += len(chunk)
                    await _io(handle.write, chunk)
                await _io(_flush, handle)
            finally:
                await _io(handle.close)
            sidecar = {
                "content_type": content_type,
                "metadata": meta,
                "download_name": download_name,
                "etag": digest.hexdigest(),
            }
            await _io(self._commit, key, temp, sidecar)
        finally:
            await _io(temp.unlink, missing_ok=True)
        return await self.head(key)

    def _commit(self, key: str, temp: Path, sidecar: dict[str, Any]) -> None:
        target, meta_path = self._paths(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise InvalidKey("Another object's key starts with this key.", field="key")
            meta_temp = temp.with_suffix(".json")
            meta_temp.write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
            os.replace(temp, target)
            os.replace(meta_temp, meta_path)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey("A part of this key is another object's key.", field="key") from None
        except OSError as error:
            raise _unavailable(error) from error

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        check_key(key)
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        target, _ = self._paths(key)
        try:
            handle: BinaryIO = await _io(target.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(details={"key": key}) from None
        try:
            while chunk := await _io(handle.read, chunk_bytes):
                yield chunk
        finally:
            await _io(handle.close)

    async def head(self, key: str) -> StoredObject:
        check_key(key)
        stored: StoredObject = await _io(self._head, key)
        return stored

    def _head(self, key: str) -> StoredObject:
        target, meta_path = self._paths(key)
        try:
            stat = target.stat()
            if not target.is_file():
                raise ObjectNotFound(details={"key": key})
            sidecar = json.loads(meta_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(details={"key": key}) from None
        except OSError as error:
            raise _unavailable(error) from error
        return StoredObject(
            key=key,
            size_bytes=stat.st_size,
            content_type=sidecar["content_type"],
            metadata=sidecar["metadata"],
            etag=sidecar["etag"],
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            download_name=sidecar.get("download_name"),  # absent from earlier versions'
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await _io(self._delete, key)

    def _delete(self, key: str) -> None:
        target, meta_path = self._paths(key)
        try:
            if target.is_dir():
                return  # a folder of other objects, not an object
            target.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        except NotADirectoryError:
            return
        except OSError as error:
            raise _unavailable(error) from error
        for tree, path in ((self._objects, target), (self._metadata, meta_path)):
            _prune_empty_folders(tree, path.parent)

    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        check_prefix(prefix)
        keys = await _io(_list_keys, self._objects, prefix)
        for key in keys:
            with contextlib.suppress(ObjectNotFound):  # deleted meanwhile
                yield await self.head(key)

    async def download_url(self, key: str, *, expires_in: timedelta) -> str:
        check_key(key)
        grant = StorageGrant(key, "GET", self._expiry(expires_in))
        return f"{self._base_url}{STORAGE_ROUTE}?token={self._signer.sign(grant)}"

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        check_key(key)
        if size_bytes < 0:
            raise ValueError("size_bytes must not be negative")
        expires_at = self._expiry(expires_in)
        grant = StorageGrant(
            key, "PUT", expires_at, content_type=content_type, size_bytes=size_bytes
        )
        return PresignedUpload(
            url=f"{self._base_url}{STORAGE_ROUTE}?token={self._signer.sign(grant)}",
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(size_bytes)},
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )

    async def ping(self) -> None:
        try:
            await _io(self._root.mkdir, parents=True, exist_ok=True)
        except OSError as error:
            raise _unavailable(error) from error
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise DependencyUnavailable(
                "The storage folder is not writable.", details={"module": "storage"}
            )

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self._objects / key, self._metadata / f"{key}.json"

    def _expiry(self, expires_in: timedelta) -> int:
        return int((self._signer.now() + expires_in).timestamp())


async def _io(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


async def _chunks(body: Body) -> AsyncIterator[bytes]:
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body)
        for start in range(0, len(view), _WRITE_CHUNK):
            yield bytes(view[start : start + _WRITE_CHUNK])
        return
    async for chunk in body:
        if chunk:
            yield bytes(chunk)


def _list_keys(objects: Path, prefix: str) -> list[str]:
    folder = prefix.rpartition("/")[0]
    start = objects / folder if folder else objects
    if not start.is_dir():
        return []
    keys = (key for key in _walk(start, objects) if key.startswith(prefix))
    return sorted(keys)  # code point order is UTF-8 byte order, as S3 lists


def _walk(folder: Path, root: Path) -> Iterator[str]:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), root)
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path).relative_to(root).as_posix()


def _prune_empty_folders(tree: Path, folder: Path) -> None:
    while folder != tree and tree in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _unavailable(error: OSError) -> DependencyUnavailable:
    return DependencyUnavailable(
        f"The storage folder cannot be used ({type(error).__name__}).",
        details={"module": "storage"},
    )
