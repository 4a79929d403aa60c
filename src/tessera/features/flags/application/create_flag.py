from __future__ import annotations

import logging
import uuid
from typing import Annotated

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.application.flag_admin import FlagView, require_admin
from tessera.features.flags.application.ports import FlagRepository
from tessera.features.flags.domain.flag import (
    KEY_PATTERN,
    MAX_ALLOW_LIST,
    MAX_DESCRIPTION_LENGTH,
    MAX_KEY_LENGTH,
    FeatureFlag,
)
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.patterns import described

logger = logging.getLogger("tessera.flags")

KEY = described(
    f"^{KEY_PATTERN.pattern}$",
    "1 to 64 lower-case letters, digits, '_', '.' or '-', starting with a letter or digit",
)
Key = Annotated[
    str, msgspec.Meta(pattern=KEY, max_length=MAX_KEY_LENGTH, examples=["new-dashboard"])
]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_LENGTH)]
# `minimum` again through Litestar's `extra`: Litestar drops a bound of 0 (falsy) where the
# type is in a union (`FlagChanges`' `Percentage | UnsetType`), and the document would
# then allow negative percentages the server refuses.
Percentage = Annotated[int, msgspec.Meta(ge=0, le=100, extra_json_schema={"extra": {"minimum": 0}})]
AllowList = Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_ALLOW_LIST)]


class NewFlag(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A flag to create; unknown fields are refused (400). Off, for nobody, unless told."""

    key: Key
    description: Description = ""
    enabled: bool = False
    rollout_percentage: Percentage = 0
    tenant_ids: AllowList = msgspec.field(default_factory=list)
    user_ids: AllowList = msgspec.field(default_factory=list)


class CreateFlag:
    """Admin only. Creates a flag; a key already used is `FlagAlreadyExists` (409), even when
    two requests race. Every process sees the new flag within a second."""

    def __init__(
        self,
        flags: FlagRepository,
        feature_flags: FeatureFlags,
        unit_of_work: UnitOfWork,
        clock: Clock,
        audit: AuditTrail,
    ) -> None:
        self._audit = audit
        self._flags, self._feature_flags = flags, feature_flags
        self._uow, self._clock = unit_of_work, clock

    async def execute(self, principal: Principal, command: NewFlag) -> FlagView:
        require_admin(principal)
        flag = FeatureFlag.create(
            key=command.key,
            now=self._clock.now(),
            description=command.description,
            enabled=command.enabled,
            rollout_percentage=command.rollout_percentage,
            tenant_ids=command.tenant_ids,
            user_ids=command.user_ids,
        )
        await self._flags.add(flag)
        self._audit.record(
            AuditAction.FLAG_CREATED,
            tenant_id=principal.tenant_id,  # flags are global: the acting admin's tenant
            actor_id=principal.user_id,
            target_type="feature_flag",
            target_id=flag.id,
            details={"flag": flag.key, "enabled": flag.enabled},
        )
        await self._uow.commit()
        await self._feature_flags.changed()
        by = str(principal.user_id)
        logger.info("feature flag created", extra={"flag": flag.key, "user_id": by})
        return FlagView.of(flag)
