"""`/api/v1/users` for administrators (SPEC §3.5): list, read, change, soft-delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from tessera.features.identity.application.accounts import Profile
from tessera.features.identity.application.get_user import GetUser
from tessera.features.identity.application.list_users import ListUsers
from tessera.features.identity.application.ports import USER_SORT_FIELDS, UserFilter
from tessera.features.identity.application.remove_user import RemoveUser
from tessera.features.identity.application.update_user import UpdateUser, UserChanges
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.moments import moment_parameter, parse_moment
from tessera.shared.http.pagination import page_request


class UsersController(Controller):
    path = "/users"
    tags = ("users",)

    @get(
        "/",
        summary="Users: every tenant's for an admin, its own tenant's for a tenant admin.",
        dependencies={"paging": page_request(USER_SORT_FIELDS)},
    )
    @inject
    async def list_users(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        users: FromDishka[ListUsers],
        tenant_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Admins only: one tenant's users.")
        ] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
        is_verified: Annotated[bool | None, QueryParameter()] = None,
        role: Annotated[Role | None, QueryParameter()] = None,
        created_after: Annotated[
            str | None, moment_parameter("Inclusive; UTC when no offset.")
        ] = None,
        created_before: Annotated[
            str | None, moment_parameter("Exclusive; UTC when no offset.")
        ] = None,
        search: Annotated[
            str | None,
            QueryParameter(description="Case-insensitive substring of email or full name."),
        ] = None,
    ) -> Paginated[Profile]:
        where = UserFilter(
            tenant_id=tenant_id,
            is_active=is_active,
            is_verified=is_verified,
            role=role,
            created_after=parse_moment(created_after, "created_after"),
            created_before=parse_moment(created_before, "created_before"),
            search=search,
        )
        return paginated(await users.execute(caller, where, paging), Profile.of)

    @get("/{user_id:uuid}", summary="One user within the caller's reach (404 otherwise).")
    @inject
    async def get_user(
        self,
        caller: FromDishka[Principal],
        user_id: FromPath[uuid.UUID],
        user: FromDishka[GetUser],
    ) -> Success[Profile]:
        return ok(await user.execute(caller, user_id))

    @patch("/{user_id:uuid}", summary="Change role, is_active or full_name; nothing else.")
    @inject
    async def update_user(
        self,
        caller: FromDishka[Principal],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserChanges],
        update: FromDishka[UpdateUser],
    ) -> Success[Profile]:
        return ok(await update.execute(caller, user_id, data))

    @delete("/{user_id:uuid}", status_code=200, summary="Soft-delete a user.")
    @inject
    async def remove_user(
        self,
        caller: FromDishka[Principal],
        user_id: FromPath[uuid.UUID],
        remove: FromDishka[RemoveUser],
    ) -> Done:
        await remove.execute(caller, user_id)
        return done("User deleted successfully")
