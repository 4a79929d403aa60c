from __future__ import annotations

import uuid

import msgspec

from tessera.features.identity.application.forget_user_objects import ForgetUserObjects
from tessera.features.jobs.domain.job import Job
from tessera.shared.domain.errors import InvalidInput

USER_PURGED = "user.purged"


class UserPurged(msgspec.Struct, frozen=True):
    """The payload `PurgeDeletedAccounts` records: ids only, no personal data."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID


class UserPurgedJob:
    """`JobHandler` of `user.purged` jobs: identity's own objects for the account (its
    avatars) are deleted. A payload that is not the event's is `InvalidInput`, buried at
    once; a store outage propagates, so the job is retried by its route's policy."""

    def __init__(self, forget_objects: ForgetUserObjects) -> None:
        self._forget_objects = forget_objects

    async def handle(self, job: Job) -> None:
        try:
            event = msgspec.convert(job.data, UserPurged)
        except msgspec.ValidationError as error:
            raise InvalidInput(f"Not a user.purged payload: {error}") from None
        await self._forget_objects.execute(event.user_id)
