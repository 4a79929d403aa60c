"""Two-factor sign-in: TOTP codes (RFC 6238, `pyotp`) and single-use recovery codes.

A TOTP code belongs to a time step (30 s); a code of the current step or of the one just
before or after is accepted (clock drift), two steps away is not. A step, once a code of it
was accepted, is spent: only a later step's code is accepted afterwards (no replay within
the window), which the credential store decides atomically (`MfaCredentials.use_step`).

Recovery codes are 16 characters of base32 (80 random bits), shown once in groups of four
(`abcd-efgh-ijkl-mnop`), stored only as hashes; case, spaces and hyphens do not matter.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp

from tessera.shared.domain.errors import Conflict, Unauthenticated

DRIFT_STEPS = 1
STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LENGTH = 16
_TOTP_CODE = re.compile(r"[0-9]{6}")
_RECOVERY_CODE = re.compile(f"[{_RECOVERY_ALPHABET}]{{{_RECOVERY_LENGTH}}}")


class InvalidMfaCode(Unauthenticated):
    """A wrong, spent or too old code: one answer for all, as for a wrong password."""

    default_message = "The code is invalid or was already used."


class InvalidMfaTicket(Unauthenticated):
    default_message = "The sign-in ticket is invalid, has expired or was already used."


class MfaAlreadyEnabled(Conflict):
    default_message = "Two-factor sign-in is already on for this account."


class MfaNotEnabled(Conflict):
    default_message = "Two-factor sign-in is not on for this account."


class NoPendingMfaSetup(Conflict):
    default_message = "Start the setup first: POST /auth/mfa/totp/setup."


@dataclass(frozen=True, slots=True)
class TotpCredential:
    """A user's TOTP secret (sealed by the secret box) and whether it is confirmed."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    sealed_secret: str
    enabled: bool
    last_used_step: int  # the latest step a code was accepted for; 0 before any


def new_totp_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226's recommendation)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app scans."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def totp_code(secret: str, at: datetime, *, steps_off: int = 0) -> str:
    """The code of `secret` at `at` (shifted by `steps_off` steps): what an app shows."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(at, counter_offset=steps_off)


def is_totp_code(code: str) -> bool:
    return _TOTP_CODE.fullmatch(code.strip()) is not None


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step whose code `code` is, within `DRIFT_STEPS` of `at`; None when none
    matches (compared in constant time)."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    try:
        return totp.verify_and_get_timecode(code.strip(), for_time=at, valid_window=DRIFT_STEPS)
    except pyotp.OTPVerificationError:
        return None


def new_recovery_codes() -> list[str]:
    """`RECOVERY_CODES` fresh codes, as shown to the user."""
    return [
        _grouped("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16)))
        for _ in range(RECOVERY_CODES)
    ]


def normalised_recovery_code(code: str) -> str | None:
    """The code as hashed (lower case, no spaces or hyphens); None when it cannot be one."""
    cleaned = re.sub(r"[\s-]", "", code).lower()
    return cleaned if _RECOVERY_CODE.fullmatch(cleaned) else None


def recovery_code_hash(user_id: uuid.UUID, code: str) -> str:
    """SHA-256 of the user's id and the normalised code. A fast hash is enough here, unlike
    for passwords: the code is 80 random bits made by us, so no dictionary or brute force
    of a leaked hash is feasible (2^80 guesses), and the user id in the input keeps equal
    codes of two users apart. Callers pass `normalised_recovery_code`'s result."""
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def _grouped(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
