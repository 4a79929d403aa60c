"""Invitations: a tenant's way to bring in a person with a role (SPEC §3.5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import Conflict, Forbidden

INVITATION_TTL = timedelta(days=7)


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class AlreadyAccepted(Conflict):
    default_message = "The invitation was already accepted."


class RoleNotGrantable(Forbidden):
    default_message = "You cannot grant this role."


def grantable_roles(inviter: Role) -> frozenset[Role]:
    """What a caller may hand out: an admin any role, a tenant admin never `admin`."""
    if inviter is Role.ADMIN:
        return frozenset(Role)
    if inviter is Role.TENANT_ADMIN:
        return frozenset({Role.USER, Role.TENANT_ADMIN})
    return frozenset()


@dataclass(slots=True)
class Invitation:
    """Only the SHA-256 of the emailed token is kept; the token itself leaves in the email."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    token_hash: str
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def issue(
        cls,
        *,
        tenant_id: uuid.UUID,
        email: str,
        role: Role,
        token_hash: str,
        invited_by: uuid.UUID,
        inviter_role: Role,
        now: datetime,
    ) -> Invitation:
        if role not in grantable_roles(inviter_role):
            raise RoleNotGrantable(field="role")
        return cls(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            email=email,
            role=role,
            token_hash=token_hash,
            invited_by=invited_by,
            created_at=now,
            expires_at=now + INVITATION_TTL,
        )

    def status(self, now: datetime) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING

    def revoke(self, now: datetime) -> None:
        """Revoking twice, or an expired invitation, is harmless; an accepted one is 409."""
        if self.accepted_at is not None:
            raise AlreadyAccepted()
        if self.revoked_at is None:
            self.revoked_at = now
