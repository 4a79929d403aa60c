"""Passkeys (WebAuthn credentials): what is kept of one, and the sign-counter rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.shared.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated

MAX_PASSKEYS_PER_USER = 20
MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Passkey:
    """A user's registered credential: its public key, never anything secret."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    credential_id: bytes
    public_key: bytes  # COSE-encoded
    sign_count: int
    transports: tuple[str, ...]
    name: str
    aaguid: str | None
    created_at: datetime
    last_used_at: datetime | None = None


def looks_cloned(stored: int, presented: int) -> bool:
    """WebAuthn §6.1.1: when either counter is non-zero, the presented one must be greater
    than the stored one; otherwise two authenticators hold the same private key."""
    return (stored > 0 or presented > 0) and presented <= stored


class PasskeyNotFound(NotFound):
    default_message = "No such passkey."


class PasskeyRejected(Unauthenticated):
    """A sign-in assertion that does not verify, or whose passkey is unknown: one answer,
    so a caller learns nothing about which credentials exist."""

    default_message = "The passkey could not be verified."


class InvalidPasskeyRegistration(InvalidInput):
    default_message = "The passkey registration could not be verified."


class ChallengeNotFound(InvalidInput):
    """The ceremony's challenge is unknown, expired, already used or was issued for
    something else: the client asks for new options."""

    default_message = "The challenge is unknown, expired or already used; ask for new options."


class PasskeyAlreadyRegistered(Conflict):
    default_message = "This passkey is registered already."


class TooManyPasskeys(Conflict):
    default_message = f"An account may have at most {MAX_PASSKEYS_PER_USER} passkeys."
