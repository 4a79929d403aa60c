from __future__ import annotations

import logging
import uuid

import msgspec

from tessera.features.identity.application.accounts import Profile
from tessera.features.identity.application.ports import (
    PasswordHasher,
    TenantDirectory,
    UserRepository,
)
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.password_policy import check_password
from tessera.features.identity.domain.user import User, clean_full_name, normalise_email
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")

ADMIN_TENANT_NAME = "Administrators"


class NewAdmin(msgspec.Struct, frozen=True):
    email: str
    password: str
    full_name: str


class CreateAdmin:
    """Makes an `admin` (`tessera create-admin`; there is no HTTP way to do it).

    Rules as for registration: email normalised and free among live accounts (409), the
    password policy (400, checked before hashing); the admin gets a new tenant named
    "Administrators", its email counts as verified, and `user.created` is recorded.
    """

    def __init__(
        self,
        users: UserRepository,
        tenants: TenantDirectory,
        hasher: PasswordHasher,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
    ) -> None:
        self._scope = scope
        self._users, self._tenants, self._hasher = users, tenants, hasher
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, command: NewAdmin) -> Profile:
        self._scope.across_tenants("create-admin")
        email = normalise_email(command.email)
        name = clean_full_name(command.full_name)
        check_password(command.password, email=email)
        if await self._users.by_email(email) is not None:
            raise EmailAlreadyRegistered(field="email")
        tenant_id = uuid.uuid4()
        now = self._clock.now()
        await self._tenants.create(tenant_id=tenant_id, name=ADMIN_TENANT_NAME)
        password_hash = await self._hasher.hash(command.password)
        user = User.register(
            tenant_id=tenant_id,
            email=email,
            password_hash=password_hash,
            full_name=name,
            role=Role.ADMIN,
            now=now,
        )
        user.mark_verified(now)
        user.changed.clear()
        await self._users.add(user)
        profile = Profile.of(user)
        payload = msgspec.to_builtins(profile)
        self._outbox.record(Event("user.created", payload, tenant_id=tenant_id))
        await self._uow.commit()
        logger.info("admin created", extra={"user_id": str(user.id), "tenant_id": str(tenant_id)})
        return profile
