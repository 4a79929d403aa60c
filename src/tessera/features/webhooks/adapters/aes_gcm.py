"""`SecretBox` with AES-256-GCM (`cryptography`).

Format: `v1:` + base64(12-byte random nonce || ciphertext || 16-byte tag), with a fixed
associated-data label so a value sealed for another purpose with the same key is refused.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.features.webhooks.application.secret_box import SecretUnreadable

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION_PREFIX = "v1:"
ASSOCIATED_DATA = b"tessera.webhooks.secret.v1"


class AesGcmSecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256-GCM key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, value: str) -> AesGcmSecretBox:
        """From `DATA_ENCRYPTION_KEY` (base64 of 32 bytes)."""
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the data encryption key must be base64") from None
        return cls(key)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext.encode("utf-8"), ASSOCIATED_DATA)
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
            plaintext = self._aead.decrypt(nonce, ciphertext, ASSOCIATED_DATA)
        except InvalidTag:
            raise SecretUnreadable(
                "the sealed secret cannot be opened: wrong DATA_ENCRYPTION_KEY or tampered data"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnreadable("the sealed secret is not UTF-8 text") from None
