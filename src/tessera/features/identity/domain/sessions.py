"""Sessions and tokens, as the identity rules see them."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from tessera.shared.domain.caller import Role

TokenType = Literal["access", "refresh"]
REFRESH_GRACE_SECONDS = 10


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified JWT says. Every field is a required claim of every token."""

    user_id: uuid.UUID  # sub
    session_id: uuid.UUID  # sid
    tenant_id: uuid.UUID  # tid
    role: Role
    token_type: TokenType  # typ
    token_id: str  # jti
    issued_at: datetime  # iat (nbf is the same instant)
    expires_at: datetime  # exp


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One signed-in device. Ends at `expires_at` (absolute) or after the idle time."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    generation: int  # how many times its refresh token was rotated
    rotated_at: datetime  # when the current refresh token was issued
    # How it was authenticated: True when a second factor (TOTP, recovery code, passkey) was
    # proven, at sign-in or since.
    mfa: bool = False
    # Its tenant requires MFA and the user has none yet: only enrolment routes answer it.
    needs_mfa_enrolment: bool = False


def device_fingerprint(ip_address: str | None, user_agent: str | None) -> str:
    """A device (IP address and user agent, None and "" being the same) as a fixed-size
    name: the SHA-1 hex of `<ip>` LF `<user agent>`, which a Redis script can compute too.
    Only equality matters here (no secret rests on it), and it keeps a user's remembered
    devices small whatever user agents they send."""
    device = f"{ip_address or ''}\n{user_agent or ''}".encode()
    return hashlib.sha1(device, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class DeviceMemory:
    """How long a device stays known after its latest sign-in, and how many devices of one
    user are remembered at most (past it, the least recently seen are forgotten)."""

    seconds: int
    most: int


class RotationOutcome(StrEnum):
    ROTATED = "rotated"  # the presented token was current: a new one replaces it
    GRACE = "grace"  # the presented token is the immediate parent, within the grace window
    REUSED = "reused"  # an older token: theft is assumed, the session was revoked
    MISSING = "missing"  # no such session (ended, expired, revoked)


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RotationOutcome
    session: SessionRecord | None  # after rotation (ROTATED, GRACE); None otherwise
