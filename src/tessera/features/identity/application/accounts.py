"""What the account use cases share: settings, request field types, the profile, one-time
links and security alerts. Token pairs are in `token_pairs`."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.domain import password_policy
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import DeviceMemory
from tessera.features.identity.domain.user import (
    EMAIL_PATTERN,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    User,
)
from tessera.shared.application.ports import Outbox
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event
from tessera.shared.domain.patterns import NOT_BLANK

USER_SECURITY_ALERT = "user.security_alert"
# The `event` of each `user.security_alert` identity records (notifications words each).
NEW_SIGN_IN = "new sign-in"
PASSWORD_CHANGED = "password changed"
MFA_TURNED_ON = "two-factor sign-in turned on"
MFA_TURNED_OFF = "two-factor sign-in turned off"
RECOVERY_CODE_USED = "recovery code used to sign in"
RECOVERY_CODES_REPLACED = "recovery codes replaced"
SECURITY_EVENTS = (
    NEW_SIGN_IN,
    PASSWORD_CHANGED,
    MFA_TURNED_ON,
    MFA_TURNED_OFF,
    RECOVERY_CODE_USED,
    RECOVERY_CODES_REPLACED,
)

# What request bodies take, stated in their types (and so in the OpenAPI document) with the
# domain's own limits: the API refuses what the domain would, before a use case runs.
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=EMAIL_PATTERN,
        max_length=MAX_EMAIL_LENGTH,
        description="Surrounding spaces are ignored; kept in lower case.",
    ),
]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=password_policy.MIN_LENGTH,
        max_length=password_policy.MAX_LENGTH,
        description="Taken exactly as typed. It must also not be the account's email nor "
        "a common password (a 400 naming the field).",
    ),
]
FullName = Annotated[str, msgspec.Meta(pattern=NOT_BLANK, max_length=MAX_NAME_LENGTH)]


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    access_ttl_seconds: int
    refresh_ttl_seconds: int
    idle_ttl_seconds: int
    require_verified_email: bool
    public_base_url: str
    verify_email_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 30 * 60
    profile_cache_seconds: int = 300
    account_retention_days: int = 30  # soft-deleted accounts are purged after this
    purge_batch_size: int = 500  # accounts purged per transaction
    sessions_per_user_max: int = 100  # a login past it ends the user's oldest sessions
    email_per_account_per_hour: int = 3  # resets, verifications, invitations: each kind
    known_device_seconds: int = 30 * 86400  # a device signed in from lately is no "new sign-in"
    # Enough for a user's browsers on the few networks they move between; an attacker
    # cycling user agents only pushes the oldest out (their next sign-in is reported).
    known_devices_max: int = 50
    mfa_ticket_seconds: int = 5 * 60  # a password accepted waits this long for its second factor
    mfa_issuer: str = "Tessera"  # what authenticator apps show beside the account

    @property
    def device_memory(self) -> DeviceMemory:
        return DeviceMemory(seconds=self.known_device_seconds, most=self.known_devices_max)


class Profile(msgspec.Struct, frozen=True):
    """The current user as the API shows it (and as it is cached)."""

    user_id: uuid.UUID
    email: str
    full_name: str
    avatar_url: str | None
    is_verified: bool
    is_active: bool
    role: str
    tenant_id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> Profile:
        return cls(
            user_id=user.id,
            email=user.email,
            full_name=user.full_name,
            avatar_url=user.avatar_url,
            is_verified=user.is_verified,
            is_active=user.is_active,
            role=user.role.value,
            tenant_id=user.tenant_id,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


VERIFY_EMAIL = "verify_email"  # one-time token purposes, and the templates of their emails
PASSWORD_RESET = "password_reset"


async def live_user(users: UserRepository, principal: Principal) -> User:
    """The caller's account (see `live`)."""
    return live(await users.get(principal.user_id))


def live(user: User | None) -> User:
    """The caller's account as read; gone (deleted meanwhile) or deactivated means the token
    is no longer valid (deactivation also ends the sessions; this covers a sign-in racing
    it)."""
    if user is None or not user.is_active:
        raise InvalidToken()
    return user


async def send_link(
    tokens: OneTimeTokens,
    outbox: Outbox,
    user: User,
    *,
    purpose: str,
    page: str,
    ttl_seconds: int,
    now: datetime,
    config: IdentityConfig,
    context: dict[str, object],
) -> None:
    """Issue a single-use token for `purpose` and record the email carrying its link
    (`PUBLIC_BASE_URL/<page>?token=…`, never a host taken from a request)."""
    secret = new_secret()
    await tokens.issue(
        user=user,
        purpose=purpose,
        token_hash=hash_token(secret),
        expires_at=now + timedelta(seconds=ttl_seconds),
        now=now,
    )
    link = f"{config.public_base_url}/{page}?token={secret}"
    variables = {"full_name": user.full_name, "link": link, **context}
    outbox.record(email_requested(purpose, user.email, variables, tenant_id=user.tenant_id))


def new_secret() -> str:
    """256 random bits, URL-safe: one-time links and nothing else."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def profile_key(user_id: object) -> str:
    """The cached profile's key. It carries the user's hash tag, `{<user_id>}`, like the
    user's session keys: on a Redis Cluster the session touch reads it in the same slot."""
    return f"cache:user:{{{user_id}}}"


def record_security_alert(
    outbox: Outbox,
    user: User,
    event: str,
    now: datetime,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """The `security_alert` email to the user and the `user.security_alert` event (which
    other features turn into notifications), recorded in the caller's transaction."""
    context = {
        "full_name": user.full_name,
        "event": event,
        "ip_address": ip_address or "unknown",
        "user_agent": user_agent or "unknown",
        "occurred_at": now.isoformat(timespec="seconds"),
    }
    outbox.record(email_requested("security_alert", user.email, context, tenant_id=user.tenant_id))
    outbox.record(security_alert(user, event, now, ip_address=ip_address, user_agent=user_agent))


def security_alert(
    user: User,
    event: str,
    occurred_at: datetime,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> Event:
    """`user.security_alert`: something happened to the account that its owner should hear
    of (`event`: "new sign-in", "password changed"), recorded with the change; other
    features react to it (notifications tell the user). Plain JSON, no email address."""
    payload = {
        "user_id": str(user.id),
        "tenant_id": str(user.tenant_id),
        "event": event,
        "occurred_at": occurred_at.isoformat(),
        "ip_address": ip_address,
        "user_agent": user_agent,
    }
    return Event(type=USER_SECURITY_ALERT, payload=payload, tenant_id=user.tenant_id)
