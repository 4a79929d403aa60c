"""Who is calling: the caller kernel every feature shares.

Identity settles it once per request from a live session (so role and tenant are current);
every other feature only reads it. Tenant-access rules built on it live in
`tessera.shared.application.tenant_access`.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import msgspec

from tessera.shared.domain.errors import Forbidden


class Role(StrEnum):
    USER = "user"
    TENANT_ADMIN = "tenant_admin"
    ADMIN = "admin"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: taken from a live session, so role and tenant are current."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
    # The session's tenant requires two-factor sign-in and the user has not enrolled yet:
    # only the routes that let them enrol (or leave) serve this caller.
    needs_mfa_enrolment: bool = False


class MfaEnrolmentRequired(Forbidden):
    """A caller whose session needs MFA enrolment, on a route that does not serve it: a 403
    whose `details.reason` is `mfa_enrolment_required`."""

    default_message = (
        "Your organisation requires two-factor sign-in: set it up first "
        "(POST /api/v1/auth/mfa/totp/setup, then /confirm)."
    )

    def __init__(self) -> None:
        super().__init__(details={"reason": "mfa_enrolment_required"})
