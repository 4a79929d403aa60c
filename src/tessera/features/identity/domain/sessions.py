"""Sessions and tokens, as the identity rules see them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import msgspec

TokenType = Literal["access", "refresh"]
REFRESH_GRACE_SECONDS = 10


class Role(StrEnum):
    USER = "user"
    TENANT_ADMIN = "tenant_admin"
    ADMIN = "admin"


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


class RotationOutcome(StrEnum):
    ROTATED = "rotated"  # the presented token was current: a new one replaces it
    GRACE = "grace"  # the presented token is the immediate parent, within the grace window
    REUSED = "reused"  # an older token: theft is assumed, the session was revoked
    MISSING = "missing"  # no such session (ended, expired, revoked)


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RotationOutcome
    session: SessionRecord | None  # after rotation (ROTATED, GRACE); None otherwise


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: taken from a live session, so role and tenant are current."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
