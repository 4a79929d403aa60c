from __future__ import annotations

import uuid

import msgspec

from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.stored_files import (
    DOWNLOAD_LINK_TTL,
    FileDetail,
    FileView,
    reachable_file,
)
from tessera.shared.application.ports import Clock
from tessera.shared.application.storage import FileStorage
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal


class GetFile:
    """A file's metadata and a 5-minute download link (it answers with `Content-Disposition:
    attachment` and the original name, stored with the object); any member of the file's
    tenant, or an admin."""

    def __init__(
        self, files: FileRepository, storage: FileStorage, scope: TenantScope, clock: Clock
    ) -> None:
        self._files, self._storage, self._scope, self._clock = files, storage, scope, clock

    async def execute(self, caller: Principal, file_id: uuid.UUID) -> FileDetail:
        file = await reachable_file(self._files, self._scope, caller, file_id)
        expires_at = self._clock.now() + DOWNLOAD_LINK_TTL
        url = await self._storage.download_url(file.storage_key, expires_in=DOWNLOAD_LINK_TTL)
        view = msgspec.structs.asdict(FileView.of(file))
        return FileDetail(**view, download_url=url, download_expires_at=expires_at)
