from __future__ import annotations

import logging

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
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
        self,
        flags: FlagRepository,
        feature_flags: FeatureFlags,
        unit_of_work: UnitOfWork,
        audit: AuditTrail,
    ) -> None:
        self._flags, self._feature_flags, self._uow = flags, feature_flags, unit_of_work
        self._audit = audit

    async def execute(self, principal: Principal, key: str) -> None:
        require_admin(principal)
        flag = await self._flags.get(key) if is_valid_key(key) else None
        if flag is None or not await self._flags.delete(key):
            raise FlagNotFound(details={"key": key[:64]})
        self._audit.record(
            AuditAction.FLAG_DELETED,
            tenant_id=principal.tenant_id,  # flags are global: the acting admin's tenant
            actor_id=principal.user_id,
            target_type="feature_flag",
            target_id=flag.id,
            details={"flag": key},
        )
        await self._uow.commit()
        await self._feature_flags.changed()
        logger.info("feature flag deleted", extra={"flag": key, "user_id": str(principal.user_id)})
