"""A feature flag, and the rule that decides it for one user.

The rule, in order:
1. a disabled flag is off for everyone (`enabled` is the kill switch);
2. a user in `user_ids`, or a user of a tenant in `tenant_ids`, has it on;
3. anyone else has it on when their bucket for this flag is below the rollout:
   `bucket(key, user_id) < rollout_percentage * 100`, buckets being 0 to 9,999.

The bucket is the first 8 bytes of SHA-256(`"<key>:<user id>"`), big-endian, modulo 10,000:
the same user gets the same answer in every process and on every machine (never Python's
`hash()`, which is salted per process); raising the percentage only adds users (whoever had
the flag at 25 % still has it at 50 %); and the key in the hash gives each flag its own
cohort, so the 10 % of one flag are not the 10 % of every other.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from tessera.shared.domain.errors import InvalidInput

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MAX_KEY_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 500
MAX_ALLOW_LIST = 10_000  # ids per allow list; larger audiences are what rollouts are for
BUCKETS = 10_000  # 1 % of the users is 100 buckets


def check_key(key: str) -> str:
    """A lower-case slug: a letter or digit, then up to 63 of `a-z 0-9 _ . -`."""
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            "key must be 1 to 64 characters: lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter or digit.",
            field="key",
        )
    return key


def is_valid_key(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


def bucket(key: str, user_id: uuid.UUID) -> int:
    """The user's place, 0 to 9,999, in this flag's rollout; stable across processes."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _rollout(value: int) -> int:
    if isinstance(value, bool) or not 0 <= value <= 100:
        raise InvalidInput(
            "rollout_percentage must be an integer from 0 to 100.", field="rollout_percentage"
        )
    return value


def _description(value: str) -> str:
    text = value.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters.", field="description"
        )
    return text


def _allow_list(ids: Iterable[uuid.UUID], field: str) -> frozenset[uuid.UUID]:
    unique = frozenset(ids)
    if len(unique) > MAX_ALLOW_LIST:
        raise InvalidInput(f"{field} may hold at most {MAX_ALLOW_LIST} ids.", field=field)
    return unique


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    """A named switch. Flags are global (not owned by a tenant); `key` names it for good."""

    id: uuid.UUID
    key: str
    description: str
    enabled: bool
    rollout_percentage: int
    tenant_ids: frozenset[uuid.UUID]
    user_ids: frozenset[uuid.UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def create(
        cls,
        *,
        key: str,
        now: datetime,
        description: str = "",
        enabled: bool = False,
        rollout_percentage: int = 0,
        tenant_ids: Iterable[uuid.UUID] = (),
        user_ids: Iterable[uuid.UUID] = (),
    ) -> FeatureFlag:
        """A new flag; by default off, and on for nobody even once enabled until it is given
        allow lists or a rollout percentage (a forgotten field must not switch a feature on
        for everyone)."""
        return cls(
            id=uuid.uuid4(),
            key=check_key(key),
            description=_description(description),
            enabled=enabled,
            rollout_percentage=_rollout(rollout_percentage),
            tenant_ids=_allow_list(tenant_ids, "tenant_ids"),
            user_ids=_allow_list(user_ids, "user_ids"),
            created_at=now,
            updated_at=now,
        )

    def changed(
        self,
        *,
        now: datetime,
        description: str | None = None,
        enabled: bool | None = None,
        rollout_percentage: int | None = None,
        tenant_ids: Iterable[uuid.UUID] | None = None,
        user_ids: Iterable[uuid.UUID] | None = None,
    ) -> FeatureFlag:
        """A copy with the given fields replaced (None keeps a field) and `updated_at` = now."""
        return replace(
            self,
            description=self.description if description is None else _description(description),
            enabled=self.enabled if enabled is None else enabled,
            rollout_percentage=(
                self.rollout_percentage
                if rollout_percentage is None
                else _rollout(rollout_percentage)
            ),
            tenant_ids=(
                self.tenant_ids if tenant_ids is None else _allow_list(tenant_ids, "tenant_ids")
            ),
            user_ids=self.user_ids if user_ids is None else _allow_list(user_ids, "user_ids"),
            updated_at=now,
        )

    def is_enabled_for(self, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> bool:
        """The rule in this module's docstring."""
        if not self.enabled:
            return False
        if user_id in self.user_ids or (tenant_id is not None and tenant_id in self.tenant_ids):
            return True
        return bucket(self.key, user_id) < self.rollout_percentage * (BUCKETS // 100)
