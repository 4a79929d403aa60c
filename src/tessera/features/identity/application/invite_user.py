from __future__ import annotations

import uuid

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.accounts import (
    Email,
    IdentityConfig,
    hash_token,
    live_user,
    new_secret,
)
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.features.identity.application.invitations import ACCEPT_PAGE, InvitationView
from tessera.features.identity.application.ports import (
    InvitationRepository,
    TenantDirectory,
    UserRepository,
)
from tessera.features.identity.application.user_administration import require_user_manager
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.invitation import INVITATION_TTL, Invitation
from tessera.features.identity.domain.user import normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_access import TenantNotFound, target_tenant, widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event


class NewInvitation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /invitations`: who, with which role, into which tenant (default: the caller's;
    only an admin may name another)."""

    email: Email
    role: Role = Role.USER
    tenant_id: uuid.UUID | None = None


class InviteUser:
    """Invites a person into a tenant.

    Rules: managers only (403 for a `user`); a tenant admin invites into its own tenant and
    never as `admin` (403); an email that already has an account is 409; a new invitation
    replaces the tenant's pending ones for that email; the token (256 random bits) leaves
    only in the `invitation` email, and only its hash is stored; it expires after 7 days.

    Past the per-account ceiling (`EmailCeiling`: the invited address, whoever invites it,
    in any tenant) the invitation is made and answered as always, but its email is not
    sent: only the tenant's own managers can replace their pending invitations, so no
    stranger can spend an invitee's link this way, and nobody learns that the address was
    invited elsewhere.
    """

    def __init__(
        self,
        invitations: InvitationRepository,
        users: UserRepository,
        tenants: TenantDirectory,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
        ceiling: EmailCeiling,
        audit: AuditTrail,
    ) -> None:
        self._scope, self._ceiling, self._audit = scope, ceiling, audit
        self._invitations, self._users, self._tenants = invitations, users, tenants
        self._outbox, self._uow, self._clock, self._config = outbox, unit_of_work, clock, config

    async def execute(self, caller: Principal, command: NewInvitation) -> InvitationView:
        require_user_manager(caller)
        widen_for_admin(self._scope, caller)
        tenant_id = target_tenant(caller, command.tenant_id, self._scope)
        email = normalise_email(command.email)
        tenant_name = await self._tenants.name(tenant_id)
        if tenant_name is None:
            raise TenantNotFound(field="tenant_id")
        if await self._users.by_email(email) is not None:
            raise EmailAlreadyRegistered(field="email")
        inviter = await live_user(self._users, caller)
        now = self._clock.now()
        secret = new_secret()
        invitation = Invitation.issue(
            tenant_id=tenant_id,
            email=email,
            role=command.role,
            token_hash=hash_token(secret),
            invited_by=inviter.id,
            inviter_role=caller.role,
            now=now,
        )
        await self._invitations.revoke_pending(tenant_id=tenant_id, email=email, now=now)
        await self._invitations.add(invitation)
        variables = {
            "tenant_name": tenant_name,
            "inviter_name": inviter.full_name,
            "role": invitation.role.value,
            "expires_in_days": INVITATION_TTL.days,
            "link": f"{self._config.public_base_url}/{ACCEPT_PAGE}?token={secret}",
        }
        if await self._ceiling.allows(MailKind.INVITATION, email):
            invitation_email = email_requested("invitation", email, variables, tenant_id=tenant_id)
            self._outbox.record(invitation_email)
        payload = {
            "invitation_id": str(invitation.id),
            "tenant_id": str(tenant_id),
            "email": email,
            "role": invitation.role.value,
        }
        self._outbox.record(Event("invitation.created", payload, tenant_id=tenant_id))
        self._audit.record(
            AuditAction.INVITATION_CREATED,
            tenant_id=tenant_id,
            actor_id=caller.user_id,
            target_type="invitation",
            target_id=invitation.id,
            details={"role": invitation.role.value},
        )
        await self._uow.commit()
        return InvitationView.of(invitation, now=now)
