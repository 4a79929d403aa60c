from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.accounts import (
    VERIFY_EMAIL,
    Email,
    FullName,
    IdentityConfig,
    NewPassword,
    Profile,
    hash_token,
    send_link,
)
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.features.identity.application.ports import (
    InvitationRepository,
    OneTimeTokens,
    PasswordHasher,
    TenantDirectory,
    UserRepository,
)
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.invitation import Invitation, InvitationStatus
from tessera.features.identity.domain.password_policy import check_password
from tessera.features.identity.domain.user import User, clean_full_name, normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class Registration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The registration request, as the API receives it (unknown fields are refused)."""

    email: Email
    password: NewPassword
    full_name: FullName
    terms_accepted: Literal[True]
    tenant_name: str | None = None
    invitation_token: Annotated[
        str | None,
        msgspec.Meta(
            description="From an invitation email: joins its tenant (then no tenant_name)."
        ),
    ] = None


# The rule `RegisterUser` checks on the two optional fields, as JSON Schema for the OpenAPI
# document (a struct cannot say it): a tenant name is refused beside an invitation token.
NOT_BOTH_TENANT_NAME_AND_INVITATION = {
    "required": ["tenant_name", "invitation_token"],
    "properties": {"tenant_name": {"type": "string"}, "invitation_token": {"type": "string"}},
}


class InvalidInvitation(InvalidInput):
    default_message = "The invitation is invalid or has expired."


class RegisterUser:
    """Creates an account.

    Rules:
    - the terms must be accepted; the password obeys the policy (checked before hashing);
    - the email is stored lower-case and must be free among live accounts (409 otherwise);
    - without an invitation a new tenant is made and the user becomes its `tenant_admin`;
    - with `invitation_token` the user joins the invitation's tenant with its role, already
      verified (the emailed link proved the address); the token must be pending and sent to
      this very email, else 400 with one answer for every reason; it is accepted once, even
      by two concurrent registrations, and `tenant_name` cannot be given with it;
    - `user.created` and the welcome email are recorded in the same transaction, and, for
      an address not yet proven, the email with its verification link (as
      `POST /auth/verify-email/request` sends it, and within the same per-account ceiling):
      without it, an account that must verify its email before signing in could never do so.
    """

    def __init__(
        self,
        users: UserRepository,
        tenants: TenantDirectory,
        invitations: InvitationRepository,
        hasher: PasswordHasher,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
        tokens: OneTimeTokens,
        config: IdentityConfig,
        ceiling: EmailCeiling,
        audit: AuditTrail,
    ) -> None:
        self._scope, self._ceiling, self._audit = scope, ceiling, audit
        self._tokens, self._config = tokens, config
        self._users = users
        self._invitations = invitations
        self._tenants = tenants
        self._hasher = hasher
        self._outbox = outbox
        self._uow = unit_of_work
        self._clock = clock

    async def execute(self, command: Registration) -> Profile:
        # The email must be free in every tenant, and the new user is in no tenant yet.
        self._scope.across_tenants("registration")
        email = normalise_email(command.email)
        name = clean_full_name(command.full_name)
        check_password(command.password, email=email)
        if command.invitation_token is not None and command.tenant_name is not None:
            raise InvalidInput(
                "tenant_name cannot be used with an invitation.", field="tenant_name"
            )
        # Hashed before the first query, so no transaction is held open while it runs.
        password_hash = await self._hasher.hash(command.password)
        if await self._users.by_email(email) is not None:
            raise EmailAlreadyRegistered(field="email")
        now = self._clock.now()
        invitation: Invitation | None = None
        if command.invitation_token is None:
            tenant_id, role = uuid.uuid4(), Role.TENANT_ADMIN
            await self._tenants.create(tenant_id=tenant_id, name=command.tenant_name or name)
        else:
            invitation = await self._accept(command.invitation_token, email=email, now=now)
            tenant_id, role = invitation.tenant_id, invitation.role
        user = User.register(
            tenant_id=tenant_id,
            email=email,
            password_hash=password_hash,
            full_name=name,
            role=role,
            now=now,
        )
        if command.invitation_token is not None:
            user.mark_verified(now)
        await self._users.add(user)
        profile = Profile.of(user)
        if invitation is not None:
            self._audit.record(
                AuditAction.INVITATION_ACCEPTED,
                tenant_id=tenant_id,
                actor_id=user.id,
                target_type="invitation",
                target_id=invitation.id,
                details={"role": role.value},
            )
        self._outbox.record(Event("user.created", _public(profile), tenant_id=tenant_id))
        self._outbox.record(
            email_requested("welcome_email", email, {"full_name": name}, tenant_id=tenant_id)
        )
        if not user.is_verified and await self._ceiling.allows(MailKind.VERIFY_EMAIL, email):
            ttl = self._config.verify_email_ttl_seconds
            await send_link(
                self._tokens,
                self._outbox,
                user,
                purpose=VERIFY_EMAIL,
                page="verify-email",
                ttl_seconds=ttl,
                now=now,
                config=self._config,
                context={"expires_hours": ttl // 3600},
            )
        await self._uow.commit()
        logger.info("user registered", extra={"user_id": str(user.id), "tenant_id": str(tenant_id)})
        return profile

    async def _accept(self, token: str, *, email: str, now: datetime) -> Invitation:
        invitation = await self._invitations.by_token_hash(hash_token(token))
        usable = (
            invitation is not None
            and invitation.email == email
            and invitation.status(now) is InvitationStatus.PENDING
        )
        if invitation is None or not usable:
            raise InvalidInvitation(field="invitation_token")
        if not await self._invitations.accept(invitation.id, now=now):
            raise InvalidInvitation(field="invitation_token")  # taken by a concurrent one
        payload = {"invitation_id": str(invitation.id), "tenant_id": str(invitation.tenant_id)}
        self._outbox.record(Event("invitation.accepted", payload, tenant_id=invitation.tenant_id))
        return invitation


def _public(profile: Profile) -> dict[str, object]:
    data = msgspec.to_builtins(profile)
    assert isinstance(data, dict)
    return data
