from __future__ import annotations

import uuid

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.invitations import reachable_invitation
from tessera.features.identity.application.ports import InvitationRepository
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal


class RevokeInvitation:
    """Its link stops working at once; 404 out of reach, 409 once accepted."""

    def __init__(
        self,
        invitations: InvitationRepository,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._scope, self._audit = scope, audit
        self._invitations, self._uow, self._clock = invitations, unit_of_work, clock

    async def execute(self, caller: Principal, invitation_id: uuid.UUID) -> None:
        widen_for_admin(self._scope, caller)
        invitation = await reachable_invitation(self._invitations, caller, invitation_id)
        invitation.revoke(self._clock.now())
        await self._invitations.save(invitation)
        self._audit.record(
            AuditAction.INVITATION_REVOKED,
            tenant_id=invitation.tenant_id,
            actor_id=caller.user_id,
            target_type="invitation",
            target_id=invitation.id,
        )
        await self._uow.commit()
