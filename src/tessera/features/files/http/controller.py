"""`/api/v1/files` (SPEC §3.6): upload, list, metadata with a download link, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, JSONBody, QueryParameter

from tessera.features.files.application.delete_file import DeleteFile
from tessera.features.files.application.get_file import GetFile
from tessera.features.files.application.list_files import ListFiles
from tessera.features.files.application.ports import FileFilter
from tessera.features.files.application.presigned_upload import (
    CompleteUpload,
    NewUpload,
    StartUpload,
    UploadTicket,
)
from tessera.features.files.application.store_file import StoreFile
from tessera.features.files.application.stored_files import FILE_SORTABLE, FileDetail, FileView
from tessera.features.files.domain.file import FileKind, FileTooLarge
from tessera.features.files.http.uploads import (
    MULTIPART_OVERHEAD,
    SpooledUpload,
    require_multipart,
    the_file_part,
)
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.moments import moment_parameter, parse_moment
from tessera.shared.http.pagination import page_request

JSON_BODY_LIMIT = 1024 * 1024


class FilesController(Controller):
    path = "/"
    tags = ("files",)

    @post(
        "/",
        summary="Upload a document or image (multipart field `file`).",
        opt={"body": "multipart"},
    )
    @inject
    async def upload(
        self,
        request: Request[Any, Any, Any],
        caller: FromDishka[Principal],
        upload: FromDishka[StoreFile],
    ) -> Success[FileView]:
        require_multipart(request)
        form = await request.form()
        try:
            source = SpooledUpload(the_file_part(form))
            return ok(await upload.execute(caller, source), message="File uploaded")
        except FileTooLarge as error:
            raise RequestEntityTooLarge(detail=error.message) from None
        finally:
            await form.close()

    @get(
        "/",
        summary="The files of the caller's tenant (an admin: of `tenant_id`).",
        dependencies={"paging": page_request(FILE_SORTABLE, default_sort="uploaded_at")},
    )
    @inject
    async def list_files(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        files: FromDishka[ListFiles],
        tenant_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Admins: another tenant's files.")
        ] = None,
        kind: Annotated[FileKind | None, QueryParameter()] = None,
        content_type: Annotated[str | None, QueryParameter(max_length=255)] = None,
        uploaded_after: Annotated[
            str | None, moment_parameter("Inclusive; UTC when no offset.")
        ] = None,
        search: Annotated[
            str | None, QueryParameter(max_length=255, description="Part of the name.")
        ] = None,
    ) -> Paginated[FileView]:
        where = FileFilter(
            kind=kind,
            content_type=content_type,
            uploaded_after=parse_moment(uploaded_after, "uploaded_after"),
            search=search,
        )
        found = await files.execute(caller, paging, where=where, tenant_id=tenant_id)
        return paginated(found, lambda view: view)

    @get("/{file_id:uuid}", summary="A file's metadata and a 5-minute download link.")
    @inject
    async def get_file(
        self,
        caller: FromDishka[Principal],
        file_id: FromPath[uuid.UUID],
        reader: FromDishka[GetFile],
    ) -> Success[FileDetail]:
        return ok(await reader.execute(caller, file_id))

    @post(
        "/uploads",
        summary="Reserve a file and get a 5-minute presigned upload for it.",
        request_max_body_size=JSON_BODY_LIMIT,
    )
    @inject
    async def start_upload(
        self,
        caller: FromDishka[Principal],
        data: JSONBody[NewUpload],
        start: FromDishka[StartUpload],
    ) -> Success[UploadTicket]:
        return ok(await start.execute(caller, data), message="Upload the bytes, then complete")

    @post(
        "/{file_id:uuid}/complete",
        status_code=200,
        summary="Check a presigned upload's object and record the file.",
        request_max_body_size=JSON_BODY_LIMIT,
    )
    @inject
    async def complete_upload(
        self,
        caller: FromDishka[Principal],
        file_id: FromPath[uuid.UUID],
        complete: FromDishka[CompleteUpload],
    ) -> Success[FileView]:
        return ok(await complete.execute(caller, file_id), message="File uploaded")

    @delete("/{file_id:uuid}", status_code=200, summary="Delete a file (row, then object).")
    @inject
    async def remove(
        self,
        caller: FromDishka[Principal],
        file_id: FromPath[uuid.UUID],
        remove: FromDishka[DeleteFile],
    ) -> Done:
        await remove.execute(caller, file_id)
        return done("File deleted")


def files_router(max_file_bytes: int) -> Router:
    """The controller under `/files`, with a body limit of `FILE_MAX_BYTES` plus the
    multipart framing: Litestar refuses a larger declared `Content-Length` at once, and
    stops reading an undeclared body there."""
    return Router(
        path="/files",
        route_handlers=[FilesController],
        request_max_body_size=max_file_bytes + MULTIPART_OVERHEAD,
    )
