"""`FileStorage` on any S3-compatible store, through obstore (Rust's object_store).

obstore streams both ways (a multipart upload for large async bodies, chunked reads),
retries with backoff, and signs URLs, with whichever credentials the store has (keys, or
obstore's usual sources: environment, web identity, instance profile); it needs no boto3.
Its signer (obstore 0.12.1: `sign(store, method, paths, expires_in)`) takes no query
parameters and signs only `host`, so a link binds method, key and expiry and nothing else:
a download is served with the `Content-Type` and `Content-Disposition` stored with the
object by `put`, and an upload link takes any type and size (its caller checks what
arrived). One thing it cannot do is done here: listing by any prefix (object_store lists
by whole path segments, so `uploads/doc` would miss `uploads/documents/x`; the parent
"folder" is listed and filtered).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import unquote

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from tessera.shared.adapters.storage_keys import (
    ATTACHMENT_PREFIX,
    attachment_disposition,
    check_key,
    check_prefix,
)
from tessera.shared.application.storage import (
    Body,
    InvalidKey,
    ObjectNotFound,
    PresignedUpload,
    StoredObject,
)
from tessera.shared.domain.errors import DependencyUnavailable

if TYPE_CHECKING:
    from obstore import Attributes, ObjectMeta
    from obstore.store import S3CredentialProvider

# Attributes obstore returns besides user metadata.
_STANDARD_ATTRIBUTES = frozenset(
    {
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Type",
        "Cache-Control",
        "Storage-Class",
    }
)
MAX_PRESIGN = timedelta(days=7)  # SigV4's limit
# A streamed upload is sent as multipart parts of this size, at most this many at a time:
# obstore's default of 12 in flight held up to 60 MiB per upload while a slow store took
# the parts (memory grew with the file up to that); 2 keep it near 10 MiB per upload.
UPLOAD_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part
UPLOAD_PARTS_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where the bucket is. `endpoint_url` None means AWS itself (for `region`). The
    credentials: the keys when both are given, else `credential_provider` (obstore's
    callback) when given, else obstore's usual sources (environment, instance profile)."""

    endpoint_url: str | None
    bucket: str
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout: timedelta = timedelta(seconds=5)
    request_timeout: timedelta = timedelta(hours=1)  # whole transfers of large objects
    max_retries: int = 3
    retry_timeout: timedelta = timedelta(seconds=20)
    credential_provider: S3CredentialProvider | None = None

    @property
    def base_url(self) -> str:
        """The endpoint requests go to (path-style: `{base_url}/{bucket}/{key}`)."""
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/")
        return f"https://s3.{self.region}.amazonaws.com"


def make_store(config: S3Config) -> S3Store:
    endpoint = config.base_url
    credentials: dict[str, Any] = {}
    if config.access_key_id and config.secret_access_key:
        credentials = {
            "access_key_id": config.access_key_id,
            "secret_access_key": config.secret_access_key,
        }
    elif config.credential_provider is not None:
        credentials = {"credential_provider": config.credential_provider}
    return S3Store(
        config.bucket,
        endpoint=endpoint,
        region=config.region,
        virtual_hosted_style_request=False,
        client_options={
            "allow_http": endpoint.startswith("http://"),
            "connect_timeout": config.connect_timeout,
            "timeout": config.request_timeout,
        },
        retry_config={"max_retries": config.max_retries, "retry_timeout": config.retry_timeout},
        **credentials,
    )


class S3FileStorage:
    def __init__(self, config: S3Config, *, now: Callable[[], datetime] | None = None) -> None:
        self._store = make_store(config)
        self._now = now or (lambda: datetime.now(UTC))

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
        attributes: Attributes = {"Content-Type": content_type, **meta}
        if download_name is not None:
            attributes["Content-Disposition"] = attachment_disposition(download_name)
        size = 0
        if isinstance(body, bytes | bytearray | memoryview):
            size = len(body)
            payload: Any = bytes(body)
        else:

            async def counted(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
                nonlocal size
                async for chunk in chunks:
                    size += len(chunk)
                    yield chunk

            payload = counted(body)
        try:
            result = await obstore.put_async(
                self._store,
                key,
                payload,
                attributes=attributes,
                chunk_size=UPLOAD_PART_BYTES,
                max_concurrency=UPLOAD_PARTS_IN_FLIGHT,
            )
        except Exception as error:  # translated, never swallowed
            _translate(error, key)
        return StoredObject(
            key=key,
            size_bytes=size,
            content_type=content_type,
            metadata=meta,
            etag=result["e_tag"],
            last_modified=None,
            download_name=download_name,
        )

    async def open(self, key: str, *, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        check_key(key)
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        try:
            result = await obstore.get_async(self._store, key)
            async for piece in result.stream(min_chunk_size=chunk_bytes):
                view = memoryview(piece)
                for start in range(0, len(view), chunk_bytes):
                    yield bytes(view[start : start + chunk_bytes])
        except Exception as error:
            _translate(error, key)

    async def head(self, key: str) -> StoredObject:
        check_key(key)
        try:
            result = await obstore.get_async(self._store, key, options={"head": True})
        except Exception as error:
            _translate(error, key)
        return _stored(result.meta, result.attributes)

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except FileNotFoundError:
            return
        except Exception as error:
            _translate(error, key)

    async def list(self, prefix: str) -> AsyncIterator[StoredObject]:
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0] or None
        try:
            async for batch in obstore.list(self._store, folder, chunk_size=1000):
                for meta in batch:
                    if meta["path"].startswith(prefix):
                        yield _stored(meta, None)
        except Exception as error:
            _translate(error, prefix)

    async def download_url(self, key: str, *, expires_in: timedelta) -> str:
        check_key(key)
        _check_expiry(expires_in)
        return await self._sign("GET", key, expires_in)

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        check_key(key)
        _check_expiry(expires_in)
        if size_bytes < 0:
            raise ValueError("size_bytes must not be negative")
        now = self._now()
        url = await self._sign("PUT", key, expires_in)
        headers = {"Content-Type": content_type, "Content-Length": str(size_bytes)}
        return PresignedUpload(url=url, method="PUT", headers=headers, expires_at=now + expires_in)

    async def ping(self) -> None:
        try:
            stream = obstore.list(self._store, None, chunk_size=1)
            await anext(stream, None)
        except Exception as error:
            _translate(error, "")

    async def _sign(self, method: Literal["GET", "PUT"], key: str, expires_in: timedelta) -> str:
        try:
            return await obstore.sign_async(self._store, method, key, expires_in)
        except Exception as error:
            _translate(error, key)


def _check_expiry(expires_in: timedelta) -> None:
    if not timedelta(seconds=1) <= expires_in <= MAX_PRESIGN:
        raise ValueError("expires_in must be between 1 second and 7 days")


def _stored(meta: ObjectMeta, attributes: Attributes | None) -> StoredObject:
    attributes = attributes or {}
    return StoredObject(
        key=meta["path"],
        size_bytes=meta["size"],
        content_type=attributes.get("Content-Type"),
        metadata={
            name.lower(): value
            for name, value in attributes.items()
            if name not in _STANDARD_ATTRIBUTES
        },
        etag=meta["e_tag"],
        last_modified=meta["last_modified"],
        download_name=_download_name(attributes.get("Content-Disposition")),
    )


def _download_name(disposition: str | None) -> str | None:
    """The name in a `Content-Disposition` that `attachment_disposition` made, else None
    (inline, or written by something else: such an object is served as it was stored)."""
    if disposition is None or not disposition.startswith(ATTACHMENT_PREFIX):
        return None
    try:
        return unquote(disposition.removeprefix(ATTACHMENT_PREFIX), errors="strict")
    except UnicodeDecodeError:
        return None


def _translate(error: Exception, key: str) -> NoReturn:
    """obstore raises FileNotFoundError for a missing object, ValueError for a path it
    refuses, and its own errors (or OSError) for everything the store or network did."""
    if isinstance(error, FileNotFoundError):
        raise ObjectNotFound(details={"key": key}) from error
    if isinstance(error, ValueError):
        raise InvalidKey() from error
    if isinstance(error, ObstoreError | OSError | TimeoutError):
        raise DependencyUnavailable(
            "The object store is unavailable.", details={"module": "storage"}
        ) from error
    raise error
