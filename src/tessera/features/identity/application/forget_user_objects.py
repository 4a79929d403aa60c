"""After an account is purged for good: the objects identity kept for it go too."""

from __future__ import annotations

import logging
import uuid

from tessera.features.identity.domain.avatar import avatar_folder
from tessera.shared.application.storage import FileStorage

logger = logging.getLogger("tessera.identity")


class ForgetUserObjects:
    """Deletes every object under `avatars/{user_id}/` (every version of the avatar) and
    returns how many there were. Idempotent: a second run finds nothing, and deleting an
    object already gone is no error. A store that does not answer raises
    `DependencyUnavailable`, so the `user.purged` job is tried again; what was deleted
    before stays deleted and the retry takes the rest."""

    def __init__(self, storage: FileStorage) -> None:
        self._storage = storage

    async def execute(self, user_id: uuid.UUID) -> int:
        keys = [stored.key async for stored in self._storage.list(avatar_folder(user_id))]
        for key in keys:  # listed first: no deletion while the store is still listing
            await self._storage.delete(key)
        if keys:
            logger.info(
                "purged user's objects deleted", extra={"user_id": str(user_id), "count": len(keys)}
            )
        return len(keys)
