"""What the identity endpoints accept and return on the wire."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tessera.features.identity.application.accounts import Email, NewPassword
from tessera.features.identity.application.totp_enrolment import MfaCode


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
