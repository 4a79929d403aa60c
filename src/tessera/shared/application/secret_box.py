"""The port that encrypts secrets at rest (SPEC §2 `DATA_ENCRYPTION_KEY`): webhook signing
secrets, TOTP secrets."""

from __future__ import annotations

from typing import Protocol

from tessera.shared.domain.errors import DependencyUnavailable


class SecretUnreadable(Exception):
    """A sealed secret cannot be opened: wrong key, tampered or truncated data, unknown format.

    Not a `DomainError`: it means the stored data or the configured key is wrong, which the
    caller cannot fix, so it surfaces as a server error.
    """


class SecretsUnavailable(DependencyUnavailable):
    """No key to seal or open secrets with (`DATA_ENCRYPTION_KEY` unset on PostgreSQL); the
    message names what is unavailable."""

    default_message = "Webhooks are unavailable: the server has no DATA_ENCRYPTION_KEY."


class SecretBox(Protocol):
    """Authenticated encryption of short strings (secrets) for storage in the database.

    `seal` returns printable ASCII that differs on every call, even for the same plaintext.
    `open(seal(x)) == x`; `open` raises `SecretUnreadable` for anything it did not seal with
    the same key and for the same purpose (each user of a box seals under a label of its own).
    """

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...
