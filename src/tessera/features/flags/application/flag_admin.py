"""What the flag use cases share: the wire view of a flag and the admin rule."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.flags.domain.errors import AdminOnly
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.domain.caller import Principal, Role


class FlagView(msgspec.Struct, frozen=True):
    """A flag as the admin API shows it; allow lists sorted."""

    key: str
    description: str
    enabled: bool
    rollout_percentage: int
    tenant_ids: list[uuid.UUID]
    user_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, flag: FeatureFlag) -> FlagView:
        return cls(
            key=flag.key,
            description=flag.description,
            enabled=flag.enabled,
            rollout_percentage=flag.rollout_percentage,
            tenant_ids=sorted(flag.tenant_ids),
            user_ids=sorted(flag.user_ids),
            created_at=flag.created_at,
            updated_at=flag.updated_at,
        )


def require_admin(principal: Principal) -> None:
    """Flags are global, so only the `admin` role manages them (not a `tenant_admin`)."""
    if principal.role is not Role.ADMIN:
        raise AdminOnly()
