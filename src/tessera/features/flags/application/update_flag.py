from __future__ import annotations

import logging
from typing import TypeVar

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.flags.application.create_flag import AllowList, Description, Percentage
from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.application.flag_admin import FlagView, require_admin
from tessera.features.flags.application.ports import FlagRepository
from tessera.features.flags.domain.errors import FlagNotFound
from tessera.features.flags.domain.flag import is_valid_key
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.flags")
T = TypeVar("T")


class FlagChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Any subset of these fields; the key cannot change, and any other field is refused
    (400). A list given replaces the whole allow list."""

    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    rollout_percentage: Percentage | msgspec.UnsetType = msgspec.UNSET
    tenant_ids: AllowList | msgspec.UnsetType = msgspec.UNSET
    user_ids: AllowList | msgspec.UnsetType = msgspec.UNSET

    def fields(self) -> list[str]:
        return [name for name in self.__struct_fields__ if getattr(self, name) is not msgspec.UNSET]


def _given(value: T | msgspec.UnsetType) -> T | None:
    return None if isinstance(value, msgspec.UnsetType) else value


class UpdateFlag:
    """Admin only. Changes the fields given and only those (a concurrent change of other
    fields stays); `FlagNotFound` (404) when none has the key. A change that changes nothing
    (empty, or the values the flag has) returns the flag as it is, written nowhere. Every
    process sees a change within a second, this one at once."""

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

    async def execute(self, principal: Principal, key: str, changes: FlagChanges) -> FlagView:
        require_admin(principal)
        flag = await self._flags.get(key) if is_valid_key(key) else None
        if flag is None:
            raise FlagNotFound(details={"key": key[:64]})
        updated = flag.changed(
            now=self._clock.now(),
            description=_given(changes.description),
            enabled=_given(changes.enabled),
            rollout_percentage=_given(changes.rollout_percentage),
            tenant_ids=_given(changes.tenant_ids),
            user_ids=_given(changes.user_ids),
        )
        fields = [
            name for name in changes.fields() if getattr(updated, name) != getattr(flag, name)
        ]
        if not fields:
            return FlagView.of(flag)
        if not await self._flags.save(updated, fields):
            raise FlagNotFound(details={"key": key})
        saved = await self._flags.get(key) or updated  # with any concurrent change of others
        self._audit.record(
            AuditAction.FLAG_UPDATED,
            tenant_id=principal.tenant_id,  # flags are global: the acting admin's tenant
            actor_id=principal.user_id,
            target_type="feature_flag",
            target_id=flag.id,
            details={"flag": key, "fields": ",".join(fields)},
        )
        await self._uow.commit()
        await self._feature_flags.changed()
        by = str(principal.user_id)
        logger.info("feature flag updated", extra={"flag": key, "fields": fields, "user_id": by})
        return FlagView.of(saved)
