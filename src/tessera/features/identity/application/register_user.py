from __future__ import annotations

import logging
import uuid

import msgspec

from tessera.features.email.application.requests import email_requested
from tessera.features.identity.application.common import Profile
from tessera.features.identity.application.ports import (
    PasswordHasher,
    TenantDirectory,
    UserRepository,
)
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.password_policy import check_password
from tessera.features.identity.domain.sessions import Role
from tessera.features.identity.domain.user import User, clean_full_name, normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class Registration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The registration request, as the API receives it (unknown fields are refused)."""

    email: str
    password: str
    full_name: str
    terms_accepted: bool
    tenant_name: str | None = None
    invitation_token: str | None = None


class InvalidInvitation(InvalidInput):
    default_message = "The invitation is invalid or has expired."


class RegisterUser:
    """Creates an account.

    Rules:
    - the terms must be accepted; the password obeys the policy (checked before hashing);
    - the email is stored lower-case and must be free among live accounts (409 otherwise);
    - without an invitation a new tenant is made and the user becomes its `tenant_admin`;
      invitations are validated here (none can be issued yet, so every token is refused);
    - `user.created` and the welcome email are recorded in the same transaction.
    """

    def __init__(
        self, users: UserRepository, tenants: TenantDirectory, hasher: PasswordHasher,
        outbox: Outbox, unit_of_work: UnitOfWork, clock: Clock,
    ) -> None:  # fmt: skip
        self._users = users
        self._tenants = tenants
        self._hasher = hasher
        self._outbox = outbox
        self._uow = unit_of_work
        self._clock = clock

    async def execute(self, command: Registration) -> Profile:
        if not command.terms_accepted:
            raise InvalidInput("The terms must be accepted.", field="terms_accepted")
        email = normalise_email(command.email)
        name = clean_full_name(command.full_name)
        check_password(command.password, email=email)
        if command.invitation_token is not None:
            raise InvalidInvitation(field="invitation_token")
        if await self._users.by_email(email) is not None:
            raise EmailAlreadyRegistered(field="email")
        tenant_id = uuid.uuid4()
        now = self._clock.now()
        await self._tenants.create(tenant_id=tenant_id, name=command.tenant_name or name)
        password_hash = await self._hasher.hash(command.password)
        user = User.register(
            tenant_id=tenant_id, email=email, password_hash=password_hash, full_name=name,
            role=Role.TENANT_ADMIN, now=now,
        )  # fmt: skip
        await self._users.add(user)
        profile = Profile.of(user)
        self._outbox.record(Event("user.created", _public(profile), tenant_id=tenant_id))
        self._outbox.record(
            email_requested("welcome_email", email, {"full_name": name}, tenant_id=tenant_id)
        )
        await self._uow.commit()
        logger.info("user registered", extra={"user_id": str(user.id), "tenant_id": str(tenant_id)})
        return profile


def _public(profile: Profile) -> dict[str, object]:
    data = msgspec.to_builtins(profile)
    assert isinstance(data, dict)
    return data
