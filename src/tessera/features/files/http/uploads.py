"""The one multipart part `file` as the upload use case reads it.

Litestar parses the multipart body as it arrives and keeps a part in a
`SpooledTemporaryFile` (at most 1 MiB in memory, the rest on disk); the route's body limit
stops it past `FILE_MAX_BYTES` plus 64 KiB of headers. Nothing here reads the whole file
into memory: `chunks` reads it back 256 KiB at a time from its own offset, and `zip_names`
reads only a zip's central directory.
"""

from __future__ import annotations

import asyncio
import os
import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any

from litestar import Request
from litestar.datastructures import UploadFile

from tessera.shared.domain.errors import InvalidInput
from tessera.shared.http.input_guard import refuse_other_parts

FILE_FIELD = "file"
CHUNK_BYTES = 256 * 1024
MULTIPART_OVERHEAD = 64 * 1024


class SpooledUpload:
    def __init__(self, upload: UploadFile) -> None:
        self._upload = upload
        file = upload.file
        file.seek(0, os.SEEK_END)
        self._size = file.tell()

    @property
    def client_name(self) -> str | None:
        return self._upload.filename

    @property
    def size_bytes(self) -> int:
        return self._size

    async def chunks(self) -> AsyncIterator[bytes]:
        offset = 0
        while True:
            chunk = await asyncio.to_thread(_read_at, self._upload.file, offset, CHUNK_BYTES)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    async def zip_names(self) -> list[str]:
        return await asyncio.to_thread(_zip_names, self._upload.file)


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


def _zip_names(file: IO[bytes]) -> list[str]:
    try:
        with zipfile.ZipFile(file) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return []


def the_file_part(form: Any) -> UploadFile:
    uploads = form.getall(FILE_FIELD) if FILE_FIELD in form else []
    if len(uploads) != 1 or not isinstance(uploads[0], UploadFile):
        raise InvalidInput(
            f"Send exactly one file in the multipart field `{FILE_FIELD}`.", field=FILE_FIELD
        )
    refuse_other_parts(form, FILE_FIELD)
    upload: UploadFile = uploads[0]
    return upload


def require_multipart(request: Request[Any, Any, Any]) -> None:
    if request.content_type[0] != "multipart/form-data":
        raise InvalidInput("Send the file as multipart/form-data.", field=FILE_FIELD)
