from __future__ import annotations

import uuid

from tessera.features.identity.application.invitations import InvitationView
from tessera.features.identity.application.ports import InvitationRepository
from tessera.features.identity.application.user_administration import require_user_manager
from tessera.features.identity.domain.invitation import InvitationStatus
from tessera.shared.application.ports import Clock
from tessera.shared.application.tenant_access import target_tenant, widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import Page, PageRequest


class ListInvitations:
    """A page of invitations: a tenant admin's own tenant's; an admin's every tenant's, or
    one tenant's with `tenant_id`; optionally only those in one `status`."""

    def __init__(self, invitations: InvitationRepository, clock: Clock, scope: TenantScope) -> None:
        self._scope = scope
        self._invitations, self._clock = invitations, clock

    async def execute(
        self,
        caller: Principal,
        page: PageRequest,
        *,
        tenant_id: uuid.UUID | None = None,
        status: InvitationStatus | None = None,
    ) -> Page[InvitationView]:
        require_user_manager(caller)
        widen_for_admin(self._scope, caller)
        chosen = target_tenant(caller, tenant_id, self._scope)
        every_tenant = caller.role is Role.ADMIN and tenant_id is None
        now = self._clock.now()
        found = await self._invitations.list(
            page,
            tenant_id=None if every_tenant else chosen,
            status=None if status is None else status.value,
            now=now,
        )
        views = [InvitationView.of(invitation, now=now) for invitation in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
