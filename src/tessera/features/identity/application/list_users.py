from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tessera.features.identity.application.ports import UserFilter, UserSearch
from tessera.features.identity.application.user_administration import require_user_manager
from tessera.features.identity.domain.user import User
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden, InvalidInput
from tessera.shared.domain.pagination import Page, PageRequest

MAX_SEARCH_LENGTH = 255


class OtherTenant(Forbidden):
    default_message = "A tenant admin can only list the users of its own tenant."


class ListUsers:
    """One page of live users for an administrator (SPEC §3.2, §3.5).

    Rules:
    - `admin`: every tenant, optionally narrowed by `tenant_id`;
    - `tenant_admin`: always its own tenant; asking for another `tenant_id` is 403
      (not an empty page, so a mistaken filter is noticed);
    - `user`: 403;
    - soft-deleted users never appear; `search` is a literal, case-insensitive substring of
      email or full name; naive `created_after` / `created_before` are taken as UTC.
    """

    def __init__(self, users: UserSearch, scope: TenantScope) -> None:
        self._scope = scope
        self._users = users

    async def execute(self, caller: Principal, where: UserFilter, page: PageRequest) -> Page[User]:
        widen_for_admin(self._scope, caller)
        require_user_manager(caller)
        if caller.role is not Role.ADMIN:
            if where.tenant_id is not None and where.tenant_id != caller.tenant_id:
                raise OtherTenant(field="tenant_id")
            where = replace(where, tenant_id=caller.tenant_id)
        search = where.search.strip() if where.search is not None else None
        if search is not None and len(search) > MAX_SEARCH_LENGTH:
            raise InvalidInput(
                f"search must be at most {MAX_SEARCH_LENGTH} characters.", field="search"
            )
        where = replace(
            where,
            search=search or None,
            created_after=_aware(where.created_after),
            created_before=_aware(where.created_before),
        )
        return await self._users.find(where, page)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
