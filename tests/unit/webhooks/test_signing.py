"""Webhook signatures: Standard Webhooks (checked by the reference library) and X-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tessera.features.webhooks.domain.signing import (
    MalformedSecret,
    new_secret,
    sign,
    signature_header,
    x_signature,
)

BODY = '{"event":"webhook.test","timestamp":"2026-03-01T12:00:00Z","data":{"ok":true}}'


# Copied verbatim from ../shared/seeds/001_4fd437d02bfca027.txt ("Webhook Signature
# Verification"): the function a receiver already uses, with the secret string it was shown.
def verify_webhook_signature(payload: str, signature: str, secret: str) -> bool:
    expected_signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected_signature)


def headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second


def test_signature_verifies_with_the_reference_library() -> None:
    secret, now = new_secret(), int(time.time())
    signature = sign(secret, "msg_1", now, BODY)
    assert signature.startswith("v1,")
    Webhook(secret).verify(BODY, headers("msg_1", now, signature))


def test_bytes_and_str_bodies_sign_alike() -> None:
    secret = new_secret()
    assert sign(secret, "m", 1, BODY) == sign(secret, "m", 1, BODY.encode())


def test_reference_library_refuses_a_changed_body_or_another_secret() -> None:
    secret, now = new_secret(), int(time.time())
    signature = sign(secret, "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + " ", headers("msg_1", now, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers("msg_1", now, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers("msg_2", now, signature))


def test_rotation_overlap_sends_two_entries_and_each_secret_verifies() -> None:
    old, new, now = new_secret(), new_secret(), int(time.time())
    header = signature_header([new, old], "msg_1", now, BODY)
    entries = header.split(" ")
    assert entries == [sign(new, "msg_1", now, BODY), sign(old, "msg_1", now, BODY)]
    Webhook(old).verify(BODY, headers("msg_1", now, header))
    Webhook(new).verify(BODY, headers("msg_1", now, header))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers("msg_1", now, header))


def test_signature_header_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], "m", 1, BODY)


@pytest.mark.parametrize("secret", ["abc", "whsec_", "whsec_not base64!"])
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(MalformedSecret):
        sign(secret, "m", 1, BODY)


def test_x_signature_is_accepted_by_the_seed_verification_function() -> None:
    secret = new_secret()
    value = x_signature(secret, BODY.encode())
    assert value == value.lower()
    assert len(value) == 64
    int(value, 16)
    assert verify_webhook_signature(BODY, value, secret)
    assert x_signature(secret, BODY) == value


def test_x_signature_is_keyed_with_the_whole_secret_string_not_the_decoded_bytes() -> None:
    secret = new_secret()
    decoded = base64.b64decode(secret.removeprefix("whsec_"))
    decoded_keyed = hmac.new(decoded, BODY.encode(), hashlib.sha256).hexdigest()
    assert x_signature(secret, BODY) != decoded_keyed
    assert not verify_webhook_signature(BODY, x_signature(new_secret(), BODY), secret)
    assert not verify_webhook_signature(BODY + " ", x_signature(secret, BODY), secret)
