"""The password policy (SPEC §3.3).

A password is taken exactly as typed: no trimming, no Unicode normalisation, no truncation,
so spaces and any script count. Length is counted in characters (code points). There are no
composition rules; instead the password must not be the account's email or one of the most
common passwords (`common_passwords.txt`, shipped with the package).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import NoReturn

from tessera.features.identity.domain.errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 128  # checked before hashing, so a huge password costs nothing

_COMMON_PASSWORDS_PACKAGE = "tessera.features.identity.domain"
_COMMON_PASSWORDS_FILE = "common_passwords.txt"


def check_password(password: str, *, email: str) -> None:
    """Raise `WeakPassword` (field "password", message naming the rule) unless the policy holds."""
    if len(password) < MIN_LENGTH:
        _refuse(f"The password must be at least {MIN_LENGTH} characters long.", "min_length")
    if len(password) > MAX_LENGTH:
        _refuse(f"The password must be at most {MAX_LENGTH} characters long.", "max_length")
    # Emails are stored lower-case, so the comparison ignores case.
    if password.lower() == email.lower():
        _refuse("The password must not be the same as the email address.", "not_email")
    if password.lower() in common_passwords():
        _refuse("This password is too common; choose one that is harder to guess.", "not_common")


@cache
def common_passwords() -> frozenset[str]:
    """The lower-cased common passwords, read once from the package's data file."""
    text = (
        resources.files(_COMMON_PASSWORDS_PACKAGE)
        .joinpath(_COMMON_PASSWORDS_FILE)
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def _refuse(message: str, rule: str) -> NoReturn:
    raise WeakPassword(message, field="password", details={"rule": rule})
