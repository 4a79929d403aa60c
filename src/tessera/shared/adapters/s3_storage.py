"""`FileStorage` on any S3-compatible store, through obstore (Rust's object_store).

obstore streams both ways (a multipart upload for large async bodies, chunked reads),
retries with backoff, copies inside the store, and signs URLs; it needs no boto3. Three
things it cannot do are done here: listing by any prefix (object_store lists by whole path
segments, so `uploads/doc` would miss `uploads/documents/x`; the parent "folder" is listed
and filtered), a presigned GET carrying `response-content-disposition` (its signer takes no
query parameters), and a presigned PUT that binds `Content-Type` and `Content-Length` (its
signer signs only `host`): `presign_get` and `presign_put` below sign those URLs with SigV4
themselves, as S3 documents it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import quote, urlsplit

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from tessera.shared.adapters.storage_keys import attachment_disposition, check_key, check_prefix
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
    """Where the bucket is. `endpoint_url` None means AWS itself (for `region`); keys None
    mean obstore's usual sources (environment, instance profile)."""

    endpoint_url: str | None
    bucket: str
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout: timedelta = timedelta(seconds=5)
    request_timeout: timedelta = timedelta(hours=1)  # whole transfers of large objects
    max_retries: int = 3
    retry_timeout: timedelta = timedelta(seconds=20)

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
        self._config = config
        self._store = make_store(config)
        self._now = now or (lambda: datetime.now(UTC))

    async def put(
        self,
        key: str,
        body: Body,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        check_key(key)
        meta = {name.lower(): value for name, value in (metadata or {}).items()}
        attributes: Attributes = {"Content-Type": content_type, **meta}
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

    async def copy(self, source: str, destination: str) -> StoredObject:
        check_key(source)
        check_key(destination)
        try:  # CopyObject: the copy keeps the source's type and metadata
            await obstore.copy_async(self._store, source, destination)
        except Exception as error:
            _translate(error, source)
        return await self.head(destination)

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

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str | None = None
    ) -> str:
        check_key(key)
        _check_expiry(expires_in)
        if filename is not None and self._config.access_key_id and self._config.secret_access_key:
            return presign_get(
                self._config,
                key,
                expires_in=expires_in,
                now=self._now(),
                query={"response-content-disposition": attachment_disposition(filename)},
            )
        # Credentials from the environment or an instance profile are not ours to sign
        # with: obstore signs, and the download keeps the object's own name.
        return await self._sign("GET", key, expires_in)

    async def presign_upload(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: timedelta
    ) -> PresignedUpload:
        check_key(key)
        _check_expiry(expires_in)
        if size_bytes < 0:
            raise ValueError("size_bytes must not be negative")
        now = self._now()
        headers = {"Content-Type": content_type, "Content-Length": str(size_bytes)}
        if self._config.access_key_id and self._config.secret_access_key:
            url = presign_put(self._config, key, expires_in=expires_in, now=now, headers=headers)
        else:
            # Credentials from the environment or an instance profile are not ours to sign
            # with: obstore signs `host` only, and the store takes any type and size (the
            # caller's check of what arrived is then the only one).
            url = await self._sign("PUT", key, expires_in)
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
    )


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


# SigV4 query signing (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html)


def presign_get(
    config: S3Config,
    key: str,
    *,
    expires_in: timedelta,
    now: datetime,
    query: Mapping[str, str] | None = None,
) -> str:
    """A path-style presigned GET for `key` with extra signed query parameters."""
    return _presign(config, "GET", key, expires_in=expires_in, now=now, query=query or {})


def presign_put(
    config: S3Config, key: str, *, expires_in: timedelta, now: datetime, headers: Mapping[str, str]
) -> str:
    """A path-style presigned PUT for `key` whose signature covers `headers` (with `host`):
    S3 refuses the upload unless it carries each of them with exactly that value."""
    return _presign(config, "PUT", key, expires_in=expires_in, now=now, headers=headers)


def _presign(
    config: S3Config,
    method: str,
    key: str,
    *,
    expires_in: timedelta,
    now: datetime,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    assert config.access_key_id
    assert config.secret_access_key
    parts = urlsplit(config.base_url)
    path = f"{parts.path.rstrip('/')}/{_encode(config.bucket)}/{_encode(key, keep_slash=True)}"
    return sigv4_query_url(
        method=method,
        scheme=parts.scheme,
        host=parts.netloc,
        path=path,
        region=config.region,
        access_key_id=config.access_key_id,
        secret_access_key=config.secret_access_key,
        expires_in=expires_in,
        now=now,
        query=query or {},
        headers=headers or {},
    )


def sigv4_query_url(
    *,
    method: str,
    scheme: str,
    host: str,
    path: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    expires_in: timedelta,
    now: datetime,
    query: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> str:
    """`path` is already URI-encoded; `query` values are raw and get signed too, and so do
    `headers` (besides `host`), which the request must then carry with exactly these
    values."""
    stamp = now.astimezone(UTC)
    amz_date, day = stamp.strftime("%Y%m%dT%H%M%SZ"), stamp.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    signed = {name.lower(): " ".join(value.split()) for name, value in (headers or {}).items()}
    signed["host"] = host
    signed_names = ";".join(sorted(signed))
    params = {
        **query,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key_id}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(int(expires_in.total_seconds())),
        "X-Amz-SignedHeaders": signed_names,
    }
    canonical_query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(params.items())
    )
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in sorted(signed))
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, signed_names, "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = f"AWS4{secret_access_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        signing_key = hmac.digest(signing_key, part.encode(), "sha256")
    signature = hmac.new(signing_key, string_to_sign.encode(), "sha256").hexdigest()
    return f"{scheme}://{host}{path}?{canonical_query}&X-Amz-Signature={signature}"


def _encode(text: str, *, keep_slash: bool = False) -> str:
    """SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ is percent-encoded."""
    return quote(text, safe="/~" if keep_slash else "~", encoding="utf-8")
