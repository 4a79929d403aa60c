"""`SecretBox` with AES-256-GCM (`cryptography`).

Format: `v1:` + base64(12-byte random nonce || ciphertext || 16-byte tag), with the box's
purpose as associated data, so a value sealed for another purpose with the same key is
refused (a webhook secret cannot be passed off as a TOTP secret).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.shared.application.secret_box import SecretUnreadable

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION_PREFIX = "v1:"
WEBHOOK_SECRETS = b"tessera.webhooks.secret.v1"
TOTP_SECRETS = b"tessera.identity.totp.v1"


class AesGcmSecretBox:
    def __init__(self, key: bytes, *, purpose: bytes = WEBHOOK_SECRETS) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256-GCM key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._purpose = purpose

    @classmethod
    def from_base64(cls, value: str, *, purpose: bytes = WEBHOOK_SECRETS) -> AesGcmSecretBox:
        """From `DATA_ENCRYPTION_KEY` (base64 of 32 bytes)."""
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the data encryption key must be base64") from None
        return cls(key, purpose=purpose)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext.encode("utf-8"), self._purpose)
        return VERSION_PREFIX + base64.b64encode(nonce + ciphertext).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(VERSION_PREFIX):
            raise SecretUnreadable("the sealed secret has an unknown format")
        try:
            raw = base64.b64decode(sealed.removeprefix(VERSION_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise SecretUnreadable("the sealed secret is not valid base64") from None
        nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
            raise SecretUnreadable("the sealed secret is truncated")
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, self._purpose)
        except InvalidTag:
            raise SecretUnreadable(
                "the sealed secret cannot be opened: wrong DATA_ENCRYPTION_KEY or tampered data"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnreadable("the sealed secret is not UTF-8 text") from None
