"""The user account and its rules."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from tessera.features.identity.domain.errors import AccountInactive, EmailNotVerified
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.patterns import NUL, SPACE, described

_PART = f"[^@{SPACE}{NUL}]+"  # no @, no space
EMAIL_PATTERN = described(
    f"^[{SPACE}]*{_PART}@{_PART}\\.{_PART}[{SPACE}]*$", "an email address (name@example.com)"
)
_EMAIL = re.compile(EMAIL_PATTERN)
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 255


def normalise_email(raw: str) -> str:
    """Emails are compared case-insensitively, so they are stored trimmed and lower-case.
    The request types state the same rule (`EMAIL_PATTERN`, `MAX_EMAIL_LENGTH`), so the API
    refuses a bad address before a use case runs, exactly as this would."""
    if len(raw) > MAX_EMAIL_LENGTH or not _EMAIL.search(raw):
        raise InvalidInput("Enter a valid email address.", field="email")
    return raw.strip().lower()


def clean_full_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"full_name must be 1 to {MAX_NAME_LENGTH} characters.", field="full_name"
        )
    return name


@dataclass(slots=True)
class User:
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    password_hash: str
    full_name: str
    role: Role
    created_at: datetime
    updated_at: datetime
    avatar_url: str | None = None
    is_verified: bool = False
    is_active: bool = True
    deleted_at: datetime | None = None
    changed: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def register(
        cls,
        *,
        tenant_id: uuid.UUID,
        email: str,
        password_hash: str,
        full_name: str,
        role: Role,
        now: datetime,
    ) -> User:
        return cls(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            email=normalise_email(email),
            password_hash=password_hash,
            full_name=clean_full_name(full_name),
            role=role,
            created_at=now,
            updated_at=now,
        )

    def ensure_can_sign_in(self, *, require_verified: bool) -> None:
        if not self.is_active:
            raise AccountInactive()
        if require_verified and not self.is_verified:
            raise EmailNotVerified()

    def update_profile(
        self, *, full_name: str | None, avatar_url: str | None, clear_avatar: bool, now: datetime
    ) -> None:
        if full_name is not None:
            self._set("full_name", clean_full_name(full_name), now)
        if clear_avatar or avatar_url is not None:
            self._set("avatar_url", avatar_url, now)

    def change_role(self, role: Role, now: datetime) -> None:
        self._set("role", role, now)

    def set_active(self, active: bool, now: datetime) -> None:
        """An inactive account cannot sign in; its sessions are ended by the use case."""
        self._set("is_active", active, now)

    def mark_verified(self, now: datetime) -> None:
        self._set("is_verified", True, now)

    def set_password_hash(self, password_hash: str, now: datetime) -> None:
        self._set("password_hash", password_hash, now)

    def soft_delete(self, now: datetime) -> None:
        """The row stays (for retention), the email becomes free, sign-in stops at once."""
        self._set("deleted_at", now, now)
        self._set("is_active", False, now)

    def _set(self, name: str, value: object, now: datetime) -> None:
        """A field set to another value is noted in `changed` and moves `updated_at`; set
        to the value it has, nothing happens (SPEC §3.12: a no-op changes nothing)."""
        if getattr(self, name) == value:
            return
        setattr(self, name, value)
        self.changed.add(name)
        self.updated_at = now
        self.changed.add("updated_at")
