"""What the identity endpoints accept and return on the wire."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from tessera.features.identity.application.accounts import Email, NewPassword
from tessera.features.identity.application.totp_enrolment import MfaCode
from tessera.features.identity.domain.passkeys import MAX_NAME_LENGTH
from tessera.shared.domain.patterns import NOT_BLANK, described


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class EmailBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class ResetBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    new_password: NewPassword


class ChangePasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: NewPassword


# Passkeys: what `PublicKeyCredential.toJSON()` gives (WebAuthn Level 3); browsers add
# fields over time, so unknown ones are ignored inside a credential.
# Bounds in base64url characters (4 per 3 bytes): a credential id is at most 1023 bytes
# and a user handle 64 (WebAuthn §4 "Credential ID", §5.4.3); 3072 characters (2304
# bytes) hold the rest with room to spare for the attestation "none" Tessera asks for:
# authenticator data with a 1023-byte id and an RSA-4096 key, or an RSA-8192 signature.
B64URL = described(r"^[A-Za-z0-9_-]+={0,2}$", "base64url text")
Base64Url = Annotated[str, msgspec.Meta(min_length=1, max_length=3072, pattern=B64URL)]
CredentialId = Annotated[str, msgspec.Meta(min_length=1, max_length=1366, pattern=B64URL)]
UserHandle = Annotated[str, msgspec.Meta(min_length=1, max_length=88, pattern=B64URL)]
PasskeyName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NOT_BLANK)
]


class AttestationResponseJSON(msgspec.Struct, kw_only=True):
    client_data_json: Base64Url = msgspec.field(name="clientDataJSON")
    attestation_object: Base64Url = msgspec.field(name="attestationObject")
    # Names this server does not know (WebAuthn adds some) are dropped, not refused.
    transports: Annotated[list[str], msgspec.Meta(max_length=8)] = msgspec.field(
        default_factory=list
    )


class RegistrationCredentialJSON(msgspec.Struct, kw_only=True):
    id: CredentialId
    raw_id: CredentialId = msgspec.field(name="rawId")
    type: Literal["public-key"]
    response: AttestationResponseJSON


class AssertionResponseJSON(msgspec.Struct, kw_only=True):
    client_data_json: Base64Url = msgspec.field(name="clientDataJSON")
    authenticator_data: Base64Url = msgspec.field(name="authenticatorData")
    signature: Base64Url
    user_handle: UserHandle | None = msgspec.field(name="userHandle", default=None)


class AuthenticationCredentialJSON(msgspec.Struct, kw_only=True):
    id: CredentialId
    raw_id: CredentialId = msgspec.field(name="rawId")
    type: Literal["public-key"]
    response: AssertionResponseJSON


class PasskeyRegistrationBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    challenge_id: uuid.UUID
    credential: RegistrationCredentialJSON
    name: PasskeyName | None = None


class PasskeyLoginBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    challenge_id: uuid.UUID
    credential: AuthenticationCredentialJSON


class MfaCodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: MfaCode


class MfaVerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    code: MfaCode


class DisableTotpBody(msgspec.Struct, forbid_unknown_fields=True):
    password: str
    code: MfaCode


class TotpSetupView(msgspec.Struct, frozen=True):
    """What an authenticator app needs: the secret (to type in), its `otpauth://` URI, and
    that URI as a QR code, an SVG image in a `data:` URI (for an `<img src>`)."""

    secret: str
    otpauth_uri: str
    qr_code: str
