"""What the invitation use cases share: the API's view of an invitation, and reach."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.identity.application.ports import InvitationRepository
from tessera.features.identity.application.user_administration import require_user_manager
from tessera.features.identity.domain.invitation import Invitation
from tessera.shared.application.tenant_access import in_reach
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import NotFound

ACCEPT_PAGE = "accept-invitation"
INVITATION_SORTABLE = ("created_at", "email", "expires_at")


class InvitationNotFound(NotFound):
    default_message = "Invitation not found."


class InvitationView(msgspec.Struct, frozen=True, kw_only=True):
    """An invitation as the API shows it; never its token."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: str
    status: str
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, invitation: Invitation, *, now: datetime) -> InvitationView:
        return cls(
            id=invitation.id,
            tenant_id=invitation.tenant_id,
            email=invitation.email,
            role=invitation.role.value,
            status=invitation.status(now).value,
            invited_by=invitation.invited_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            accepted_at=invitation.accepted_at,
            revoked_at=invitation.revoked_at,
        )


async def reachable_invitation(
    invitations: InvitationRepository, caller: Principal, invitation_id: uuid.UUID
) -> Invitation:
    require_user_manager(caller)
    invitation = await invitations.get(invitation_id)
    if invitation is None or not in_reach(caller, invitation.tenant_id):
        raise InvitationNotFound(field="invitation_id")
    return invitation
