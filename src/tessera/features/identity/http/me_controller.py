"""`/api/v1/users/me` (SPEC §3.4)."""

from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, put
from litestar.params import JSONBody

from tessera.features.identity.application.common import Profile
from tessera.features.identity.application.delete_account import DeleteAccount
from tessera.features.identity.application.get_profile import GetProfile
from tessera.features.identity.application.update_profile import ProfileChanges, UpdateProfile
from tessera.features.identity.domain.sessions import Principal
from tessera.shared.http.envelope import Success, ok


class MeController(Controller):
    path = "/users/me"
    tags = ("users",)

    @get("/", summary="The current user's profile.")
    @inject
    async def me(
        self, caller: FromDishka[Principal], profile: FromDishka[GetProfile]
    ) -> Success[Profile]:
        return ok(await profile.execute(caller))

    @put("/", summary="Change full_name or avatar_url; any other field is refused.")
    @inject
    async def update(
        self, caller: FromDishka[Principal], data: JSONBody[ProfileChanges],
        update: FromDishka[UpdateProfile],
    ) -> Success[Profile]:  # fmt: skip
        return ok(await update.execute(caller, data))

    @delete("/", status_code=200, summary="Delete the account (soft delete).")
    @inject
    async def remove(
        self, caller: FromDishka[Principal], remove: FromDishka[DeleteAccount]
    ) -> Success[None]:
        await remove.execute(caller)
        return ok(message="Account deleted successfully")
