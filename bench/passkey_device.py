"""A software passkey authenticator for the benchmarks: what a browser and a platform
authenticator hand a relying party, without either.

`PasskeyDevice(origin)` plays `navigator.credentials.create()` and `.get()` for that
origin: `create(options)` takes the standard `PublicKeyCredentialCreationOptions` JSON (as
`PublicKeyCredential.parseCreationOptionsFromJSON` would) and returns the credential JSON
`PublicKeyCredential.toJSON()` gives: "none" attestation, an ES256 (P-256) key made with
`cryptography`, authenticator data with the relying party id's hash, flags UP|UV|AT, the
sign count and the attested credential data (a zero AAGUID, the credential id, the public
key as a COSE key). The credential is discoverable: the device keeps it. `get(options)`
takes `PublicKeyCredentialRequestOptions` JSON and returns the assertion: authenticator
data (UP|UV), an ECDSA signature over `authData || sha256(clientDataJSON)` and the user
handle.

The sign count stays 0 by default, as synced passkeys report it, so assertions signed in
advance can be verified in any order and at once; `counting=True` increments it per
signature, as a hardware key does.

The CBOR it needs (maps with int or text keys, byte and text strings, integers) is written
here in a few lines (`cbor`) rather than taken from a library the project does not depend
on directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
"""Authenticator data flags: user present, user verified, attested credential data."""
ES256 = -7
COSE_EC2, COSE_P256 = 2, 1
ZERO_AAGUID = bytes(16)

CborValue = int | str | bytes | Mapping[Any, Any] | Sequence[Any]


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON forms write bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value: CborValue) -> bytes:
    """`value` in CBOR (RFC 8949): unsigned and negative integers, byte and text strings,
    arrays and maps (keys in the order given), each with the shortest head."""
    if isinstance(value, bool):
        raise TypeError("booleans are not needed here")
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        encoded = value.encode()
        return _head(3, len(encoded)) + encoded
    if isinstance(value, Mapping):
        items = b"".join(cbor(key) + cbor(item) for key, item in value.items())
        return _head(5, len(value)) + items
    return _head(4, len(value)) + b"".join(cbor(item) for item in value)


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    for extra, size, fmt in ((24, 1, ">B"), (25, 2, ">H"), (26, 4, ">I"), (27, 8, ">Q")):
        if argument < 1 << (8 * size):
            return bytes([major << 5 | extra]) + struct.pack(fmt, argument)
    raise ValueError(f"{argument} does not fit in 64 bits")


@dataclass
class Credential:
    """One discoverable credential the device holds."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    key: ec.EllipticCurvePrivateKey
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor(
            {
                1: COSE_EC2,
                3: ES256,
                -1: COSE_P256,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


class PasskeyDevice:
    """A platform authenticator and the browser around it, for pages of `origin`."""

    def __init__(self, origin: str, *, counting: bool = False) -> None:
        self.origin = origin.rstrip("/")
        self.counting = counting
        self.credentials: list[Credential] = []

    def create(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """A new credential for `options` (creation options JSON), kept on the device; the
        registration credential JSON."""
        if not any(p.get("alg") == ES256 for p in options.get("pubKeyCredParams", ())):
            raise ValueError("the relying party does not accept ES256")
        rp_id = options["rp"].get("id") or _host(self.origin)
        credential = Credential(
            credential_id=secrets.token_bytes(32),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
            key=ec.generate_private_key(ec.SECP256R1()),
        )
        self.credentials.append(credential)
        attested = (
            ZERO_AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_key()
        )
        auth_data = self._auth_data(credential, UP | UV | AT) + attested
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        public_key = credential.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "authenticatorData": b64url(auth_data),
                "publicKey": b64url(public_key),
                "publicKeyAlgorithm": ES256,
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self, options: Mapping[str, Any], *, user_handle: bytes | None = None
    ) -> dict[str, Any]:
        """An assertion for `options` (request options JSON) by a credential of its relying
        party: one of `allowCredentials` if it names any, else the one of `user_handle`
        (the account a user picks), else the first."""
        credential = self._pick(options, user_handle)
        if self.counting:
            credential.sign_count += 1
        auth_data = self._auth_data(credential, UP | UV)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def _pick(self, options: Mapping[str, Any], user_handle: bytes | None) -> Credential:
        rp_id = options.get("rpId") or _host(self.origin)
        mine = [c for c in self.credentials if c.rp_id == rp_id]
        allowed = {from_b64url(d["id"]) for d in options.get("allowCredentials") or ()}
        if allowed:
            mine = [c for c in mine if c.credential_id in allowed]
        elif user_handle is not None:
            mine = [c for c in mine if c.user_handle == user_handle]
        if not mine:
            raise LookupError(f"no credential for {rp_id!r} on this device")
        return mine[0]

    def _auth_data(self, credential: Credential, flags: int) -> bytes:
        rp_id_hash = hashlib.sha256(credential.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", credential.sign_count)

    def _client_data(self, kind: str, challenge: str) -> bytes:
        fields = {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        return json.dumps(fields, separators=(",", ":")).encode()


def _host(origin: str) -> str:
    return origin.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
