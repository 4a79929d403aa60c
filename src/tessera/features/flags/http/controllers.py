"""`/api/v1/admin/feature-flags` and `/api/v1/feature-flags` (SPEC §3.9)."""

from __future__ import annotations

from typing import Annotated, Any

from dishka import AsyncContainer
from litestar import Controller, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from tessera.features.flags.application.create_flag import CreateFlag, NewFlag
from tessera.features.flags.application.delete_flag import DeleteFlag
from tessera.features.flags.application.evaluate_flags import EvaluateFlagsForCaller
from tessera.features.flags.application.flag_admin import FlagView, require_admin
from tessera.features.flags.application.get_flag import GetFlag
from tessera.features.flags.application.list_flags import SORTABLE, ListFlags
from tessera.features.flags.application.update_flag import FlagChanges, UpdateFlag
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, connection_container, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.pagination import page_request

Caller = FromDishka[Principal]


async def admin_only(_connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 without a live session, 403 for any role but `admin`, before the body or the query
    is read, so other callers learn nothing from validation errors. The use cases check too."""
    container: AsyncContainer = connection_container()
    require_admin(await container.get(Principal))


class FlagsAdminController(Controller):
    path = "/admin/feature-flags"
    tags = ("feature flags",)
    guards = [admin_only]  # noqa: RUF012 (Litestar's own attribute)

    @get(
        "/",
        dependencies={"paging": page_request(SORTABLE)},
        summary="List feature flags (admin); sort: key, created_at; filters: enabled, search.",
    )
    @inject
    async def list_flags(
        self,
        caller: Caller,
        paging: NamedDependency[PageRequest],
        flags: FromDishka[ListFlags],
        enabled: Annotated[
            bool | None, QueryParameter(description="Only enabled (true) or disabled (false).")
        ] = None,
        search: Annotated[
            str | None, QueryParameter(description="Keys containing this text.", max_length=64)
        ] = None,
    ) -> Paginated[FlagView]:
        page = await flags.execute(caller, paging, enabled=enabled, search=search)
        return paginated(page, lambda view: view)

    @post("/", status_code=201, summary="Create a feature flag (admin); 409 for a taken key.")
    @inject
    async def create(
        self, caller: Caller, data: JSONBody[NewFlag], create: FromDishka[CreateFlag]
    ) -> Success[FlagView]:
        return ok(await create.execute(caller, data), message="Feature flag created.")

    @get("/{key:str}", summary="One feature flag (admin).")
    @inject
    async def read(
        self, caller: Caller, key: FromPath[str], read: FromDishka[GetFlag]
    ) -> Success[FlagView]:
        return ok(await read.execute(caller, key))

    @patch(
        "/{key:str}",
        summary="Change any of description, enabled, rollout_percentage, "
        "tenant_ids, user_ids (admin); other fields are refused.",
    )
    @inject
    async def update(
        self,
        caller: Caller,
        key: FromPath[str],
        data: JSONBody[FlagChanges],
        update: FromDishka[UpdateFlag],
    ) -> Success[FlagView]:
        return ok(await update.execute(caller, key, data))

    @delete("/{key:str}", status_code=200, summary="Delete a feature flag (admin).")
    @inject
    async def remove(
        self, caller: Caller, key: FromPath[str], remove: FromDishka[DeleteFlag]
    ) -> Done:
        await remove.execute(caller, key)
        return done("Feature flag deleted.")


class FlagsController(Controller):
    path = "/feature-flags"
    tags = ("feature flags",)

    @get("/", summary="Every feature flag evaluated for the caller, as {key: true|false}.")
    @inject
    async def evaluated(
        self, caller: Caller, evaluate: FromDishka[EvaluateFlagsForCaller]
    ) -> Success[dict[str, bool]]:
        return ok(await evaluate.execute(caller))
