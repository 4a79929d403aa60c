"""`/api/v1/invitations` (SPEC §3.5): invite, list, revoke."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from tessera.features.identity.application.invitations import (
    INVITATION_SORTABLE,
    InvitationView,
)
from tessera.features.identity.application.invite_user import InviteUser, NewInvitation
from tessera.features.identity.application.list_invitations import ListInvitations
from tessera.features.identity.application.revoke_invitation import RevokeInvitation
from tessera.features.identity.domain.invitation import InvitationStatus
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.pagination import page_request


class InvitationsController(Controller):
    path = "/invitations"
    tags = ("invitations",)

    @post("/", summary="Invite someone into a tenant; the link goes out by email.")
    @inject
    async def invite(
        self,
        caller: FromDishka[Principal],
        data: JSONBody[NewInvitation],
        invite: FromDishka[InviteUser],
    ) -> Success[InvitationView]:
        return ok(await invite.execute(caller, data), message="Invitation sent")

    @get(
        "/",
        summary="Invitations of the caller's tenant (an admin: every tenant's).",
        dependencies={"paging": page_request(INVITATION_SORTABLE)},
    )
    @inject
    async def list_invitations(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        invitations: FromDishka[ListInvitations],
        tenant_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Admins: one tenant's invitations.")
        ] = None,
        status: Annotated[InvitationStatus | None, QueryParameter()] = None,
    ) -> Paginated[InvitationView]:
        found = await invitations.execute(caller, paging, tenant_id=tenant_id, status=status)
        return paginated(found, lambda view: view)

    @delete("/{invitation_id:uuid}", status_code=200, summary="Revoke a pending invitation.")
    @inject
    async def revoke(
        self,
        caller: FromDishka[Principal],
        invitation_id: FromPath[uuid.UUID],
        revoke: FromDishka[RevokeInvitation],
    ) -> Done:
        await revoke.execute(caller, invitation_id)
        return done("Invitation revoked")
