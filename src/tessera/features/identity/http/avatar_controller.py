"""`GET /api/v1/users/{user_id}/avatar`: where `avatar_url` leads (SPEC §3.4)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect

from tessera.features.identity.application.avatars import AvatarLink
from tessera.shared.domain.caller import Principal
from tessera.shared.http.di import FromDishka, inject

_VERSION = (
    "The version `avatar_url` names (`3.png`), so that a new upload is a new URL for caches; "
    "the current avatar is served whatever it says."
)


class AvatarController(Controller):
    path = "/users/{user_id:uuid}/avatar"
    tags = ("users",)

    @get(
        "/",
        status_code=307,
        summary="Redirect (307) to a short-lived download URL of the user's avatar; any "
        "signed-in user of the same tenant; 404 otherwise or without an uploaded avatar.",
    )
    @inject
    async def avatar(
        self,
        user_id: FromPath[uuid.UUID],
        caller: FromDishka[Principal],
        link: FromDishka[AvatarLink],
        v: Annotated[  # noqa: ARG002 - in the URL for caches only
            str | None, QueryParameter(description=_VERSION, max_length=32)
        ] = None,
    ) -> Redirect:
        url = await link.execute(caller, user_id)
        headers: dict[str, Any] = {"Cache-Control": "private, max-age=60"}
        return Redirect(url, status_code=307, headers=headers)
