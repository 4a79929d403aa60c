from __future__ import annotations

from tessera.features.flags.application.flag_admin import FlagView, require_admin
from tessera.features.flags.application.ports import FlagRepository
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import Page, PageRequest

SORTABLE = ("key", "created_at")
MAX_SEARCH_LENGTH = 64


class ListFlags:
    """Admin only. A page of flags (SPEC §3.2), sortable by `key` or `created_at`; filters:
    `enabled`, and `search` (keys containing it, case-insensitive)."""

    def __init__(self, flags: FlagRepository) -> None:
        self._flags = flags

    async def execute(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> Page[FlagView]:
        require_admin(principal)
        needle = (search or "").strip().lower()[:MAX_SEARCH_LENGTH] or None
        found = await self._flags.list(page, enabled=enabled, search=needle)
        views = [FlagView.of(flag) for flag in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
