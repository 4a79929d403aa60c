from __future__ import annotations

import logging

from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.application.flag_admin import require_admin
from tessera.features.flags.application.ports import FlagRepository
from tessera.features.flags.domain.errors import FlagNotFound
from tessera.features.flags.domain.flag import is_valid_key
from tessera.shared.application.ports import UnitOfWork
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.flags")


class DeleteFlag:
    """Admin only. Deletes a flag for good (`FlagNotFound`, 404, when none has the key); from
    then on `is_enabled` answers False for it, in every process within a second."""

    def __init__(
        self, flags: FlagRepository, feature_flags: FeatureFlags, unit_of_work: UnitOfWork
    ) -> None:
        self._flags, self._feature_flags, self._uow = flags, feature_flags, unit_of_work

    async def execute(self, principal: Principal, key: str) -> None:
        require_admin(principal)
        if not is_valid_key(key) or not await self._flags.delete(key):
            raise FlagNotFound(details={"key": key[:64]})
        await self._uow.commit()
        await self._feature_flags.changed()
        logger.info("feature flag deleted", extra={"flag": key, "user_id": str(principal.user_id)})
