"""AES-256-GCM `SecretBox`: round trip, fresh nonces, tampering and wrong keys refused."""

from __future__ import annotations

import base64
import os

import pytest

from tessera.features.webhooks.domain.signing import new_secret
from tessera.shared.adapters.aes_gcm import TOTP_SECRETS, WEBHOOK_SECRETS, AesGcmSecretBox
from tessera.shared.application.secret_box import SecretBox, SecretUnreadable


@pytest.fixture
def box() -> SecretBox:
    return AesGcmSecretBox(os.urandom(32))


def test_round_trip(box: SecretBox) -> None:
    secret = new_secret()
    sealed = box.seal(secret)
    assert sealed.startswith("v1:")
    assert secret not in sealed
    assert box.open(sealed) == secret
    assert box.open(box.seal("")) == ""
    assert box.open(box.seal("héllo ✓")) == "héllo ✓"


def test_every_seal_uses_a_fresh_nonce(box: SecretBox) -> None:
    sealed = {box.seal("same") for _ in range(200)}
    assert len(sealed) == 200
    nonces = {base64.b64decode(s.removeprefix("v1:"))[:12] for s in sealed}
    assert len(nonces) == 200


def test_a_wrong_key_is_refused(box: SecretBox) -> None:
    sealed = box.seal("secret")
    with pytest.raises(SecretUnreadable, match="wrong DATA_ENCRYPTION_KEY or tampered"):
        AesGcmSecretBox(os.urandom(32)).open(sealed)


def test_every_flipped_byte_is_refused(box: SecretBox) -> None:
    raw = bytearray(base64.b64decode(box.seal("secret").removeprefix("v1:")))
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        with pytest.raises(SecretUnreadable):
            box.open("v1:" + base64.b64encode(bytes(tampered)).decode())


@pytest.mark.parametrize(
    "sealed",
    ["", "secret", "v2:" + base64.b64encode(bytes(range(40))).decode(), "v1:@@@", "v1:", "v1:AAAA"],
    ids=["empty", "no-prefix", "unknown-version", "bad-base64", "nothing", "too-short"],
)
def test_garbage_is_refused(box: SecretBox, sealed: str) -> None:
    with pytest.raises(SecretUnreadable):
        box.open(sealed)


def test_data_sealed_with_other_associated_data_is_refused() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, nonce = os.urandom(32), os.urandom(12)
    foreign = AESGCM(key).encrypt(nonce, b"secret", b"another.purpose")
    with pytest.raises(SecretUnreadable):
        AesGcmSecretBox(key).open("v1:" + base64.b64encode(nonce + foreign).decode())


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_keys_that_are_not_32_bytes_are_refused(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSecretBox(os.urandom(length))


def test_from_base64_reads_data_encryption_key() -> None:
    key = os.urandom(32)
    box = AesGcmSecretBox.from_base64(base64.b64encode(key).decode())
    assert AesGcmSecretBox(key).open(box.seal("x")) == "x"
    with pytest.raises(ValueError, match="base64"):
        AesGcmSecretBox.from_base64("not base64!")
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSecretBox.from_base64(base64.b64encode(os.urandom(16)).decode())


def test_a_value_sealed_for_another_purpose_is_refused() -> None:
    key = os.urandom(32)
    webhook_secret = AesGcmSecretBox(key, purpose=WEBHOOK_SECRETS).seal("whsec")
    with pytest.raises(SecretUnreadable):
        AesGcmSecretBox(key, purpose=TOTP_SECRETS).open(webhook_secret)
    assert AesGcmSecretBox(key).open(webhook_secret) == "whsec"  # webhooks' is the default
