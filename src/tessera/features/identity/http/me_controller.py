"""`/api/v1/users/me` (SPEC §3.4)."""

from __future__ import annotations

from typing import Any, cast

from litestar import Controller, Request, delete, get, put
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import JSONBody

from tessera.features.identity.application.accounts import Profile
from tessera.features.identity.application.avatars import ChangeAvatar, RemoveAvatar
from tessera.features.identity.application.delete_account import DeleteAccount
from tessera.features.identity.application.get_profile import GetProfile
from tessera.features.identity.application.update_profile import ProfileChanges, UpdateProfile
from tessera.features.identity.domain.avatar import MAX_AVATAR_BYTES
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.http.caller import (
    OPEN_DURING_MFA_ENROLMENT,
    READS_CALLER,
    cached_profile,
    require_caller,
)
from tessera.shared.http.di import FromDishka, connection_scope, inject, inject_app_scoped
from tessera.shared.http.envelope import Done, Success, done, ok
from tessera.shared.http.input_guard import refuse_other_parts

# The whole multipart body may hold the 5 MiB file plus its headers and boundaries, no more:
# Litestar stops reading (413) past this, so nothing beyond it is ever buffered.
AVATAR_BODY_LIMIT = MAX_AVATAR_BYTES + 64 * 1024
AVATAR_FIELD = "file"


class MeController(Controller):
    path = "/users/me"
    tags = ("users",)

    @get(
        "/",
        summary="The current user's profile.",
        opt={OPEN_DURING_MFA_ENROLMENT: True, READS_CALLER: True},
    )
    @inject_app_scoped
    async def me(self, profile: FromDishka[GetProfile]) -> Success[Profile]:
        # No Litestar parameter, so Litestar parses none (decision record 0006).
        scope = connection_scope()
        found = await profile.execute(require_caller(scope), cached_profile(scope))
        # A cache hit is a Profile's JSON (msgspec.Raw), encoded into the response as it is.
        return ok(cast(Profile, found))

    @put("/", summary="Change full_name or avatar_url; any other field is refused.")
    @inject
    async def update(
        self,
        caller: FromDishka[Principal],
        data: JSONBody[ProfileChanges],
        update: FromDishka[UpdateProfile],
    ) -> Success[Profile]:
        return ok(await update.execute(caller, data))

    @delete("/", status_code=200, summary="Delete the account (soft delete).")
    @inject
    async def remove(
        self, caller: FromDishka[Principal], remove: FromDishka[DeleteAccount]
    ) -> Done:
        await remove.execute(caller)
        return done("Account deleted successfully")

    @put(
        "/avatar",
        summary="Upload an avatar (multipart field `file`: JPEG, PNG or WebP).",
        opt={"body": "multipart"},
        request_max_body_size=AVATAR_BODY_LIMIT,
    )
    @inject
    async def change_avatar(
        self,
        request: Request[Any, Any, Any],
        caller: FromDishka[Principal],
        change: FromDishka[ChangeAvatar],
    ) -> Success[Profile]:
        return ok(await change.execute(caller, await _read_avatar(request)))

    @delete("/avatar", status_code=200, summary="Remove the avatar.")
    @inject
    async def remove_avatar(
        self, caller: FromDishka[Principal], remove: FromDishka[RemoveAvatar]
    ) -> Success[Profile]:
        return ok(await remove.execute(caller))


async def _read_avatar(request: Request[Any, Any, Any]) -> bytes:
    """The bytes of the one `file` part. The body streams through Litestar's multipart parser
    (parts over 1 MiB spill to a temporary file), capped at `AVATAR_BODY_LIMIT`; the file
    is read back at most one byte past the limit. Name and declared type are ignored; any
    other part is refused."""
    if request.content_type[0] != "multipart/form-data":
        raise InvalidInput("Send the avatar as multipart/form-data.", field=AVATAR_FIELD)
    form = await request.form()
    try:
        uploads = form.getall(AVATAR_FIELD) if AVATAR_FIELD in form else []
        if len(uploads) != 1 or not isinstance(uploads[0], UploadFile):
            raise InvalidInput(
                f"Send exactly one image in the multipart field `{AVATAR_FIELD}`.",
                field=AVATAR_FIELD,
            )
        refuse_other_parts(form, AVATAR_FIELD)
        data = await uploads[0].read(MAX_AVATAR_BYTES + 1)
        if len(data) > MAX_AVATAR_BYTES:
            raise RequestEntityTooLarge()
        return data
    finally:
        await form.close()
