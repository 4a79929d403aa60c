"""Who is calling: the caller kernel every feature shares.

Identity settles it once per request from a live session (so role and tenant are current);
every other feature only reads it. Tenant-access rules built on it live in
`tessera.shared.application.tenant_access`.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import msgspec


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
