"""What the audit log holds: who did which security-relevant thing to what, and when.

Rows are append-only: nothing changes one once written, and only the retention prune
removes them. Never a secret in a row: details are a few short scalar values, and a key
that names a secret (`password`, `token`...) is refused outright.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

DetailValue = str | int | bool | None

MAX_DETAILS = 8
MAX_DETAIL_TEXT = 200
_SECRET_WORDS = re.compile(r"password|passwd|secret|token|code|key|hash|otp|ticket", re.I)


class AuditAction(StrEnum):
    """Every action the log records (docs/api-guide.md lists what each means)."""

    LOGIN_SUCCEEDED = "user.login.succeeded"
    LOGIN_FAILED = "user.login.failed"
    MFA_ENABLED = "user.mfa.enabled"
    MFA_DISABLED = "user.mfa.disabled"
    MFA_RECOVERY_CODE_USED = "user.mfa.recovery_code_used"
    PASSWORD_CHANGED = "user.password.changed"  # noqa: S105 - not a secret
    PASSWORD_RESET = "user.password.reset"  # noqa: S105 - not a secret
    PASSKEY_ADDED = "user.passkey.added"
    PASSKEY_REMOVED = "user.passkey.removed"
    LOGGED_OUT = "user.session.logged_out"
    LOGGED_OUT_EVERYWHERE = "user.session.logged_out_everywhere"
    SESSION_REVOKED = "user.session.revoked"
    USER_UPDATED = "user.updated"
    USER_REMOVED = "user.removed"
    INVITATION_CREATED = "invitation.created"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_ACCEPTED = "invitation.accepted"
    WEBHOOK_CREATED = "webhook.endpoint.created"
    WEBHOOK_UPDATED = "webhook.endpoint.updated"
    WEBHOOK_DELETED = "webhook.endpoint.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.endpoint.secret_rotated"  # noqa: S105 - not a secret
    FLAG_CREATED = "feature_flag.created"
    FLAG_UPDATED = "feature_flag.updated"
    FLAG_DELETED = "feature_flag.deleted"
    FILE_DELETED = "file.deleted"


class SecretInDetails(ValueError):
    """A programming error: details that could hold a secret, or are not small scalars."""


def checked_details(details: Mapping[str, DetailValue] | None) -> dict[str, DetailValue]:
    """`details` as stored, or `SecretInDetails` when they could carry a secret or are
    not a few short scalars (a list of field names goes in as one comma-joined string)."""
    if not details:
        return {}
    if len(details) > MAX_DETAILS:
        raise SecretInDetails(f"at most {MAX_DETAILS} details")
    for name, value in details.items():
        if _SECRET_WORDS.search(name):
            raise SecretInDetails(f"detail {name!r} could hold a secret")
        if value is not None and not isinstance(value, str | int | bool):
            raise SecretInDetails(f"detail {name!r} is not a scalar")
        if isinstance(value, str) and len(value) > MAX_DETAIL_TEXT:
            raise SecretInDetails(f"detail {name!r} is longer than {MAX_DETAIL_TEXT}")
    return dict(details)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: uuid.UUID
    tenant_id: uuid.UUID
    actor_id: uuid.UUID | None
    """None when nobody signed in did it (a failed sign-in, a password reset by link)."""
    action: AuditAction
    target_type: str
    target_id: uuid.UUID
    occurred_at: datetime
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: Mapping[str, DetailValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which rows a list shows; every field that is None does not filter. `tenant_id`
    None means every tenant (an admin's view)."""

    tenant_id: uuid.UUID | None = None
    action: AuditAction | None = None
    actor_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
