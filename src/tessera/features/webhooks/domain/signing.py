"""Webhook signing secrets and signatures (SPEC §3.8).

Two signatures go on every delivery:

* `webhook-signature`, per the Standard Webhooks scheme: `v1,<base64 HMAC-SHA256>` of
  `f"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the base64-decoded part of the
  secret after `whsec_`. While a secret is being rotated, one entry per secret, separated by a
  space; a receiver accepts the delivery if any entry matches.
* `X-Signature`: the lowercase hex HMAC-SHA256 of the raw body, keyed with the UTF-8 bytes of
  the WHOLE secret string as shown to the user (`whsec_...`), not its decoded 32 bytes. That
  is what the seed's `verify_webhook_signature(payload, signature, secret)` computes
  (`hmac.new(secret.encode(), payload.encode(), sha256).hexdigest()`), given the secret string
  it was shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


class MalformedSecret(ValueError):
    """A signing secret is not `whsec_` followed by base64."""


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature: the decoded bytes after `whsec_`."""
    if not secret.startswith(SECRET_PREFIX):
        raise MalformedSecret(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSecret("a webhook secret is base64 after its prefix") from None
    if not key:
        raise MalformedSecret("a webhook secret is not empty")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(secret: str, message_id: str, timestamp: int, body: bytes | str) -> str:
    """One Standard Webhooks signature entry: `v1,<base64 HMAC-SHA256>`."""
    signed = f"{message_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(
    secrets_: Iterable[str], message_id: str, timestamp: int, body: bytes | str
) -> str:
    """The `webhook-signature` value: one entry per secret (two while a rotation overlaps)."""
    entries = [sign(secret, message_id, timestamp, body) for secret in secrets_]
    if not entries:
        raise ValueError("at least one secret is needed to sign a delivery")
    return " ".join(entries)


def x_signature(secret: str, body: bytes | str) -> str:
    """The `X-Signature` value: lowercase hex HMAC-SHA256 of the raw body.

    Keyed with the whole secret string (`whsec_...`) as UTF-8, as the seed's verification
    function does; see the module docstring.
    """
    return hmac.new(secret.encode("utf-8"), _as_bytes(body), hashlib.sha256).hexdigest()
