from __future__ import annotations

import uuid

from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.stored_files import delete_quietly
from tessera.shared.application.ports import Outbox, UnitOfWork
from tessera.shared.application.storage import FileStorage
from tessera.shared.domain.events import Event

BATCH = 100


class ForgetUserFiles:
    """After an account is purged for good (`user.purged`): its files go, rows first (one
    commit per batch, each with `file.deleted`), then their objects. Safe to repeat: a
    second run finds no rows. An object whose deletion fails is left to the reconciliation
    of storage, which removes objects without rows."""

    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
    ) -> None:
        self._files, self._storage, self._outbox, self._uow = files, storage, outbox, unit_of_work

    async def execute(self, user_id: uuid.UUID) -> int:
        forgotten = 0
        while batch := await self._files.of_user(user_id, limit=BATCH):
            gone = [file for file in batch if await self._files.remove(file.id)]
            for file in gone:
                payload = {
                    "file_id": str(file.id),
                    "tenant_id": str(file.tenant_id),
                    "user_id": str(user_id),
                    "deleted_by": None,
                    "reason": "account purged",
                    "size_bytes": file.size_bytes,
                }
                self._outbox.record(Event("file.deleted", payload, tenant_id=file.tenant_id))
            await self._uow.commit()
            for file in gone:
                await delete_quietly(self._storage, file.storage_key)
            forgotten += len(gone)
            if len(batch) < BATCH:
                break
        return forgotten
