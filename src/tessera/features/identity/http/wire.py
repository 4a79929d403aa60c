"""What the identity endpoints accept and return on the wire."""

from __future__ import annotations

import msgspec

from tessera.features.identity.application.accounts import Email, NewPassword


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
