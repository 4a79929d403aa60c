"""Passkeys: registering one (bearer), listing and removing the caller's own.

A ceremony is two calls: options (a fresh challenge kept `CHALLENGE_SECONDS` under a
random id and the ceremony's purpose) then verify (the challenge taken, once). Signing in
with a passkey is `passkey_login`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.ports import (
    ChallengeStore,
    PasskeyCeremonies,
    PasskeyRepository,
    UserRepository,
)
from tessera.features.identity.domain.passkeys import (
    MAX_PASSKEYS_PER_USER,
    ChallengeNotFound,
    Passkey,
    PasskeyNotFound,
    TooManyPasskeys,
)
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import Unauthenticated

CHALLENGE_SECONDS = 300
CHALLENGE_BYTES = 32


def registration_purpose(user_id: uuid.UUID) -> str:
    return f"register:{user_id}"


LOGIN_PURPOSE = "login"


def new_challenge() -> tuple[uuid.UUID, bytes]:
    """A ceremony's id (for the client to send back) and its random challenge."""
    return uuid.uuid4(), secrets.token_bytes(CHALLENGE_BYTES)


class CeremonyOptions(msgspec.Struct, frozen=True):
    """What a client passes to `navigator.credentials.create()` or `.get()` (through
    `PublicKeyCredential.parse...OptionsFromJSON`), and the id to send back with its result."""

    challenge_id: uuid.UUID
    options: dict[str, Any]
    expires_in: int = CHALLENGE_SECONDS


class PasskeyView(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str
    credential_id: str  # base64url, as the browser names it
    transports: list[str]
    aaguid: str | None
    sign_count: int
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, passkey: Passkey) -> PasskeyView:
        return cls(
            id=passkey.id,
            name=passkey.name,
            credential_id=base64url(passkey.credential_id),
            transports=list(passkey.transports),
            aaguid=passkey.aaguid,
            sign_count=passkey.sign_count,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
        )


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StartPasskeyRegistration:
    """Creation options for the caller: a discoverable credential bound to the user's id,
    excluding the passkeys the user has already."""

    def __init__(
        self,
        users: UserRepository,
        passkeys: PasskeyRepository,
        challenges: ChallengeStore,
        ceremonies: PasskeyCeremonies,
    ) -> None:
        self._users, self._passkeys = users, passkeys
        self._challenges, self._ceremonies = challenges, ceremonies

    async def execute(self, caller: Principal) -> CeremonyOptions:
        user = await self._users.get(caller.user_id)
        if user is None:
            raise Unauthenticated()
        existing = await self._passkeys.of_user(user.id)
        challenge_id, challenge = new_challenge()
        options = self._ceremonies.creation_options(
            challenge=challenge,
            user_handle=user.id.bytes,
            user_name=user.email,
            display_name=user.full_name,
            exclude=[passkey.credential_id for passkey in existing],
            timeout_ms=CHALLENGE_SECONDS * 1000,
        )
        await self._challenges.put(
            registration_purpose(user.id),
            str(challenge_id),
            challenge,
            ttl_seconds=CHALLENGE_SECONDS,
        )
        return CeremonyOptions(challenge_id, options)


class NewPasskey(msgspec.Struct, frozen=True):
    challenge_id: uuid.UUID
    credential: Mapping[str, Any]
    name: str | None = None


class FinishPasskeyRegistration:
    """Verifies the browser's attestation against the caller's challenge and stores the
    passkey (`user.passkey.added`). At most `MAX_PASSKEYS_PER_USER` per user; a credential
    registered already is a 409."""

    def __init__(
        self,
        passkeys: PasskeyRepository,
        challenges: ChallengeStore,
        ceremonies: PasskeyCeremonies,
        audit: AuditTrail,
        unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._passkeys, self._challenges, self._ceremonies = passkeys, challenges, ceremonies
        self._audit, self._uow, self._clock = audit, unit_of_work, clock

    async def execute(self, caller: Principal, new: NewPasskey) -> PasskeyView:
        purpose = registration_purpose(caller.user_id)
        challenge = await self._challenges.take(purpose, str(new.challenge_id))
        if challenge is None:
            raise ChallengeNotFound(field="challenge_id")
        verified = self._ceremonies.verify_registration(new.credential, challenge=challenge)
        existing = await self._passkeys.of_user(caller.user_id)
        if len(existing) >= MAX_PASSKEYS_PER_USER:
            raise TooManyPasskeys()
        now = self._clock.now()
        passkey = Passkey(
            id=uuid.uuid4(),
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            credential_id=verified.credential_id,
            public_key=verified.public_key,
            sign_count=verified.sign_count,
            transports=verified.transports,
            name=(new.name or "").strip() or f"Passkey {len(existing) + 1}",
            aaguid=verified.aaguid,
            created_at=now,
        )
        await self._passkeys.add(passkey)
        self._audit.record(
            AuditAction.PASSKEY_ADDED,
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            target_type="passkey",
            target_id=passkey.id,
            details={"name": passkey.name},
        )
        await self._uow.commit()
        return PasskeyView.of(passkey)


class ListPasskeys:
    def __init__(self, passkeys: PasskeyRepository) -> None:
        self._passkeys = passkeys

    async def execute(self, caller: Principal) -> list[PasskeyView]:
        return [PasskeyView.of(p) for p in await self._passkeys.of_user(caller.user_id)]


class RemovePasskey:
    """Removes one of the caller's passkeys (`user.passkey.removed`); another user's is not
    found."""

    def __init__(
        self, passkeys: PasskeyRepository, audit: AuditTrail, unit_of_work: UnitOfWork
    ) -> None:
        self._passkeys, self._audit, self._uow = passkeys, audit, unit_of_work

    async def execute(self, caller: Principal, passkey_id: uuid.UUID) -> None:
        passkey = await self._passkeys.get(passkey_id)
        if passkey is None or passkey.user_id != caller.user_id:
            raise PasskeyNotFound()
        await self._passkeys.remove(passkey_id)
        self._audit.record(
            AuditAction.PASSKEY_REMOVED,
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            target_type="passkey",
            target_id=passkey_id,
            details={"name": passkey.name},
        )
        await self._uow.commit()
