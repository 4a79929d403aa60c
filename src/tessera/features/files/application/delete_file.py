from __future__ import annotations

import uuid

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.stored_files import delete_quietly, reachable_file
from tessera.features.files.domain.file import FileNotFound, NotFileOwner, StoredFile
from tessera.shared.application.ports import Outbox, UnitOfWork
from tessera.shared.application.storage import FileStorage
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event


class DeleteFile:
    """The uploader, a tenant admin of the file's tenant or an admin removes the row and
    records `file.deleted` (one commit), then the object; a `user` deleting someone else's
    file gets 403, another tenant's 404. An administrator deleting someone else's file
    leaves an audit row in that commit."""

    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._files, self._storage, self._outbox = files, storage, outbox
        self._uow, self._scope = unit_of_work, scope

    async def execute(self, caller: Principal, file_id: uuid.UUID) -> None:
        file = await reachable_file(self._files, self._scope, caller, file_id)
        if caller.role is Role.USER and file.user_id != caller.user_id:
            raise NotFileOwner(field="file_id")
        if not await self._files.remove(file.id):
            raise FileNotFound(field="file_id")  # removed meanwhile
        self._outbox.record(file_deleted(file, by=caller.user_id))
        if file.user_id != caller.user_id:
            self._audit.record(
                AuditAction.FILE_DELETED,
                tenant_id=file.tenant_id,
                actor_id=caller.user_id,
                target_type="file",
                target_id=file.id,
                details={"owner_id": str(file.user_id)},
            )
        await self._uow.commit()
        await delete_quietly(self._storage, file.storage_key)


def file_deleted(file: StoredFile, *, by: uuid.UUID) -> Event:
    return Event(
        "file.deleted",
        {
            "file_id": str(file.id),
            "tenant_id": str(file.tenant_id),
            "user_id": str(file.user_id),
            "deleted_by": str(by),
            "size_bytes": file.size_bytes,
        },
        tenant_id=file.tenant_id,
    )
