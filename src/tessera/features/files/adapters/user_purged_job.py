"""The files feature's part of `user.purged`: the purged account's files go."""

from __future__ import annotations

import uuid

import msgspec

from tessera.features.files.application.forget_user_files import ForgetUserFiles
from tessera.features.jobs.domain.job import Job
from tessera.shared.domain.errors import InvalidInput


class _UserPurged(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    tenant_id: uuid.UUID


class PurgedUserFilesJob:
    def __init__(self, forget: ForgetUserFiles) -> None:
        self._forget = forget

    async def handle(self, job: Job) -> None:
        try:
            purged = msgspec.convert(job.data, _UserPurged)
        except msgspec.ValidationError as error:
            raise InvalidInput(f"Bad user.purged payload: {error}") from None
        await self._forget.execute(purged.user_id)
