"""Notifications: short messages for one user, one tenant or everyone, read per user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tessera.shared.domain.errors import InvalidInput, NotFound

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5000
GLOBAL_CHANNEL = "global"


class NotificationNotFound(NotFound):
    """Missing, or not addressed to the caller: the same answer, so ids cannot be probed."""

    default_message = "Notification not found."


class Kind(StrEnum):
    ANNOUNCEMENT = "announcement"  # published by an administrator
    NEW_SIGN_IN = "security.new_sign_in"
    PASSWORD_CHANGED = "security.password_changed"  # noqa: S105 (a kind, not a secret)
    MFA_ENABLED = "security.mfa_enabled"
    MFA_DISABLED = "security.mfa_disabled"
    RECOVERY_CODE_USED = "security.recovery_code_used"
    RECOVERY_CODES_REPLACED = "security.recovery_codes_replaced"


def user_channel(user_id: uuid.UUID) -> str:
    return f"user.{user_id}"


def tenant_channel(tenant_id: uuid.UUID) -> str:
    return f"tenant.{tenant_id}"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who reads: a user of a tenant. It sees what is addressed to it, to its tenant and to
    everyone, and may listen to exactly those channels."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID

    def channels(self) -> frozenset[str]:
        return frozenset(
            {user_channel(self.user_id), tenant_channel(self.tenant_id), GLOBAL_CHANNEL}
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """Addressed to one user (`user_id`, with that user's `tenant_id`), one tenant (`tenant_id`
    only) or everyone (neither). Immutable once stored; reading it is a per-user mark."""

    id: uuid.UUID
    tenant_id: uuid.UUID | None
    user_id: uuid.UUID | None
    kind: Kind
    title: str
    body: str
    created_at: datetime

    @classmethod
    def create(
        cls,
        *,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        kind: Kind,
        title: str,
        body: str,
        created_at: datetime,
    ) -> Notification:
        """Titles are trimmed and required (at most 200 characters); bodies at most 5000.
        A user's notification must name the user's tenant, so the tenant's wall holds it."""
        title = title.strip()
        if not title or len(title) > MAX_TITLE_CHARS:
            raise InvalidInput(f"title must be 1 to {MAX_TITLE_CHARS} characters.", field="title")
        if len(body) > MAX_BODY_CHARS:
            raise InvalidInput(f"body must be at most {MAX_BODY_CHARS} characters.", field="body")
        if user_id is not None and tenant_id is None:
            raise ValueError("A user's notification carries the user's tenant.")
        return cls(id, tenant_id, user_id, kind, title, body, created_at)

    @property
    def channel(self) -> str:
        """The WebSocket channel it is pushed on."""
        if self.user_id is not None:
            return user_channel(self.user_id)
        if self.tenant_id is not None:
            return tenant_channel(self.tenant_id)
        return GLOBAL_CHANNEL

    def is_for(self, reader: Recipient) -> bool:
        if self.user_id is not None:
            return self.user_id == reader.user_id
        return self.tenant_id is None or self.tenant_id == reader.tenant_id


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A notification as one reader sees it: with the time that reader marked it read."""

    notification: Notification
    read_at: datetime | None
