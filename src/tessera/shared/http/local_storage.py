"""The routes that stand in for presigned URLs when objects live in a local folder.

`LocalFileStorage.download_url` and `.presign_upload` hand out
`/api/v1/storage/objects?token=…`; the token (see `UrlSigner`) is the whole authorisation,
as a presigned URL's signature is, so these routes take no bearer token. `create_app`
registers them only in local-storage mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery
from litestar.response import Stream

from tessera.shared.adapters.local_storage import UrlSigner
from tessera.shared.adapters.storage_keys import attachment_disposition
from tessera.shared.application.storage import FileStorage
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import ErrorEnvelope, Success, ok

MAX_UPLOAD_BYTES = 5 * 1024**3  # S3's limit for one PUT


class ContentTypeMismatch(InvalidInput):
    default_message = "The Content-Type header must be the one the upload link was made for."


class ContentLengthMismatch(InvalidInput):
    default_message = "The body must be exactly the size the upload link was made for."


class UploadedObject(msgspec.Struct):
    key: str
    size_bytes: int
    content_type: str | None


# No generated examples: Litestar would make up random ones (codes that do not exist), and
# anew for every app, so no two documents would be the same.
_ERRORS = {
    403: ResponseSpec(
        ErrorEnvelope,
        description="The token is invalid or expired (FORBIDDEN).",
        generate_examples=False,
    ),
    404: ResponseSpec(
        ErrorEnvelope,
        description="No object under that key (NOT_FOUND).",
        generate_examples=False,
    ),
}


class LocalStorageController(Controller):
    path = "/storage/objects"
    tags = ("storage",)

    @get("/", summary="Download an object through a signed link.", responses=_ERRORS)
    @inject
    async def download(
        self, token: FromQuery[str], storage: FromDishka[FileStorage], signer: FromDishka[UrlSigner]
    ) -> Stream:
        grant = signer.verify(token, "GET")
        stored = await storage.head(grant.key)
        headers = {"Cache-Control": "private, no-store"}
        if stored.download_name is not None:
            headers["Content-Disposition"] = attachment_disposition(stored.download_name)
        return Stream(
            storage.open(grant.key),
            media_type=stored.content_type or "application/octet-stream",
            headers=headers,
        )

    @put(
        "/",
        summary="Upload an object through a signed link (the raw bytes as the body).",
        opt={"body": "stream"},
        request_max_body_size=MAX_UPLOAD_BYTES,
        responses=_ERRORS,
    )
    @inject
    async def upload(
        self,
        token: FromQuery[str],
        request: Request[Any, Any, Any],
        storage: FromDishka[FileStorage],
        signer: FromDishka[UrlSigner],
    ) -> Success[UploadedObject]:
        grant = signer.verify(token, "PUT")
        content_type = request.headers.get("content-type", "")
        if grant.content_type is None or content_type.strip() != grant.content_type:
            raise ContentTypeMismatch(field="Content-Type")
        declared = request.headers.get("content-length", "").strip()
        if grant.size_bytes is None or declared != str(grant.size_bytes):
            raise ContentLengthMismatch(
                field="Content-Length", details={"size_bytes": grant.size_bytes}
            )
        body = _exactly(request.stream(), grant.size_bytes)
        stored = await storage.put(grant.key, body, content_type=grant.content_type)
        return ok(UploadedObject(stored.key, stored.size_bytes, stored.content_type))


async def _exactly(chunks: AsyncIterator[bytes], size_bytes: int) -> AsyncIterator[bytes]:
    """The body, refused (before the object is replaced) unless it is `size_bytes` long, as
    S3 refuses a body that is not its signed `Content-Length`."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > size_bytes:
            raise ContentLengthMismatch(field="Content-Length", details={"size_bytes": size_bytes})
        yield chunk
    if received != size_bytes:
        raise ContentLengthMismatch(field="Content-Length", details={"size_bytes": size_bytes})
