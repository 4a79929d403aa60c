"""Housekeeping: object storage and the `files` table kept in step (SPEC §3.6, consistency).

A failure between an object's write and its row's insert (or a presigned upload never made
or never completed) leaves an object without a row or a row without an object; this chore
finds them and fixes what it safely can."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.presigned_upload import UPLOAD_LINK_TTL
from tessera.features.files.domain.file import INCOMING_PREFIX, StoredFile
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.storage import FileStorage, ObjectNotFound, StoredObject
from tessera.shared.application.tenant_scope import TenantScope

logger = logging.getLogger("tessera.files")

UPLOADS_PREFIX = "uploads/"


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """`orphan_grace`: how old an object without a row must be before it goes (an upload
    writes its object, then its row a moment later). `pending_margin`: how long after its
    upload link expired a `pending` row is kept. `batch_size`: rows or objects per
    transaction."""

    orphan_grace: timedelta = timedelta(hours=1)
    pending_margin: timedelta = timedelta(hours=1)
    batch_size: int = 500


class ReconcileFiles:
    """Three passes over the files of every tenant (the audited cross-tenant path):

    1. `pending` rows created more than the upload link's life plus `pending_margin` ago:
       the row is deleted (only if still pending, so a completion racing it wins) and then
       its object (the upload's, under `uploads/incoming/`), if any. They stop counting
       against the quota.
    2. objects under `uploads/` (never avatars, backups or anything else) whose key no row
       holds: deleted when older than `orphan_grace` by `last_modified` (an upload writes
       its object, or a completion its copy, a moment before the row holds the key). An
       object under `uploads/incoming/` needs no grace: its pending row exists before its
       link does, so unheld it is what was sent to a link after the file was completed or
       removed. Another object whose store gives no `last_modified` is skipped: its age is
       unknown and a stateless pass cannot wait for a second sighting (both adapters always
       give one).
    3. `ready` rows whose object is missing: data loss, logged at ERROR with file id, tenant
       and key, and left as they are (nothing is deleted or marked; an operator restores
       the object from a backup or deletes the file). An object stored without the file's
       download name (written before objects carried it, or restored without it) is
       rewritten in place with it, read and written once, so its links answer with
       `Content-Disposition: attachment` again; only if its bytes still hash to the row's
       SHA-256 (else it is left and logged at ERROR), and deleted again if the file was
       deleted meanwhile.

    Returns how many things it fixed (rows and objects deleted, objects rewritten); what
    pass 3 reports is not counted. Each batch is its own transaction; none is held open
    while storage is called."""

    def __init__(
        self,
        files: FileRepository,
        storage: FileStorage,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        config: ReconcileConfig,
    ) -> None:
        self._files, self._storage, self._uow = files, storage, unit_of_work
        self._clock, self._scope, self._config = clock, scope, config

    async def execute(self) -> int:
        self._scope.across_tenants("housekeeping: reconcile files")
        now = self._clock.now()
        fixed = await self._expire_pending(now - UPLOAD_LINK_TTL - self._config.pending_margin)
        fixed += await self._delete_orphans(now - self._config.orphan_grace)
        fixed += await self._check_ready()
        return fixed

    async def _expire_pending(self, before: datetime) -> int:
        limit, fixed = self._config.batch_size, 0
        while batch := await self._files.stale_pending(before, limit=limit):
            try:
                gone = [file for file in batch if await self._files.remove_pending(file.id)]
                await self._uow.commit()
            except Exception:
                await self._uow.rollback()
                raise
            for file in gone:  # after the commit: a failure here leaves an orphan for pass 2
                await self._storage.delete(file.storage_key)
            fixed += len(gone)  # a row and its object (if any) count as one
            if len(batch) < limit or not gone:
                break
        await self._uow.rollback()  # ends the last (read-only) query's transaction
        return fixed

    async def _delete_orphans(self, before: datetime) -> int:
        fixed, chunk = 0, list[StoredObject]()
        async for stored in self._storage.list(UPLOADS_PREFIX):
            if stored.key.startswith(INCOMING_PREFIX):
                chunk.append(stored)
            elif stored.last_modified is None:
                logger.warning("stored object of unknown age kept", extra={"key": stored.key})
            elif stored.last_modified < before:
                chunk.append(stored)
            if len(chunk) >= self._config.batch_size:
                fixed += await self._delete_rowless(chunk)
                chunk = []
        if chunk:
            fixed += await self._delete_rowless(chunk)
        return fixed

    async def _delete_rowless(self, objects: Sequence[StoredObject]) -> int:
        try:
            held = await self._files.keys_in([stored.key for stored in objects])
        finally:
            await self._uow.rollback()  # read only; no transaction held during the deletes
        orphans = [stored.key for stored in objects if stored.key not in held]
        for key in orphans:
            await self._storage.delete(key)
        if orphans:
            logger.info("orphan objects deleted", extra={"count": len(orphans)})
        return len(orphans)

    async def _check_ready(self) -> int:
        after: uuid.UUID | None = None
        limit, rewritten = self._config.batch_size, 0
        while True:
            try:
                batch = await self._files.ready_after(after, limit=limit)
            finally:
                await self._uow.rollback()
            for file in batch:
                try:
                    stored = await self._storage.head(file.storage_key)
                except ObjectNotFound:
                    await self._report(file.id, file.tenant_id, file.storage_key)
                    continue
                if stored.download_name != file.original_name:
                    rewritten += await self._rewrite(file, stored)
            if len(batch) < limit:
                if rewritten:
                    logger.info(
                        "file objects given their download name", extra={"count": rewritten}
                    )
                return rewritten
            after = batch[-1].id

    async def _rewrite(self, file: StoredFile, stored: StoredObject) -> int:
        """The object again, of the same bytes, type and metadata, with the file's download
        name: 1, or 0 when its bytes are not the row's (left as it was) or it is gone."""
        digest, differs = hashlib.sha256(), False

        async def same_bytes() -> AsyncIterator[bytes]:
            nonlocal differs
            async for chunk in self._storage.open(file.storage_key):
                digest.update(chunk)
                yield chunk
            if file.sha256 and digest.hexdigest() != file.sha256:
                differs = True
                raise _NotTheRowsBytes()  # before the write completes: nothing changes

        try:
            await self._storage.put(
                file.storage_key,
                same_bytes(),
                content_type=stored.content_type or file.content_type,
                metadata=stored.metadata,
                download_name=file.original_name,
            )
        except ObjectNotFound:
            return 0  # deleted meanwhile
        except Exception:
            if not differs:
                raise
            logger.error(
                "file object differs from its row",
                extra={"file_id": str(file.id), "storage_key": file.storage_key},
            )
            return 0
        if not await self._still_there(file.id):  # deleted while rewritten: its object goes
            await self._storage.delete(file.storage_key)
            return 0
        return 1

    async def _still_there(self, file_id: uuid.UUID) -> bool:
        try:
            return await self._files.get(file_id) is not None
        finally:
            await self._uow.rollback()

    async def _report(self, file_id: uuid.UUID, tenant_id: uuid.UUID, key: str) -> None:
        """Only if the row is still there (a file deleted meanwhile loses its object too)."""
        if await self._still_there(file_id):
            logger.error(
                "file object missing",
                extra={"file_id": str(file_id), "tenant_id": str(tenant_id), "storage_key": key},
            )


class _NotTheRowsBytes(Exception):
    """Raised into a rewrite whose object no longer hashes to its row's SHA-256."""
