from __future__ import annotations

import uuid

from tessera.features.files.application.ports import FileFilter, FileRepository
from tessera.features.files.application.stored_files import FileView
from tessera.shared.application.tenant_access import target_tenant
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import Page, PageRequest


class ListFiles:
    """A page of one tenant's files: the caller's; an admin may name another with
    `tenant_id` (anyone else naming another tenant gets 404)."""

    def __init__(self, files: FileRepository, scope: TenantScope) -> None:
        self._files, self._scope = files, scope

    async def execute(
        self,
        caller: Principal,
        page: PageRequest,
        *,
        where: FileFilter,
        tenant_id: uuid.UUID | None = None,
    ) -> Page[FileView]:
        chosen = target_tenant(caller, tenant_id, self._scope)
        found = await self._files.list(page, tenant_id=chosen, where=where)
        views = [FileView.of(file) for file in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
