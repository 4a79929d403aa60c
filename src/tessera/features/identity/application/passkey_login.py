"""Signing in with a passkey (discoverable credentials): options with no credential list,
then the assertion verified and a normal session opened."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.passkeys import (
    CHALLENGE_SECONDS,
    LOGIN_PURPOSE,
    CeremonyOptions,
    new_challenge,
)
from tessera.features.identity.application.ports import (
    ChallengeStore,
    PasskeyCeremonies,
    PasskeyRepository,
    SessionStore,
    TokenIssuer,
    UserRepository,
)
from tessera.features.identity.application.session_opening import SessionOpener, SignInMethod
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.passkeys import (
    ChallengeNotFound,
    PasskeyRejected,
    looks_cloned,
)
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope

logger = logging.getLogger("tessera.security")


class StartPasskeyLogIn:
    """Request options for any of the relying party's discoverable credentials."""

    def __init__(self, challenges: ChallengeStore, ceremonies: PasskeyCeremonies) -> None:
        self._challenges, self._ceremonies = challenges, ceremonies

    async def execute(self) -> CeremonyOptions:
        challenge_id, challenge = new_challenge()
        options = self._ceremonies.request_options(
            challenge=challenge, timeout_ms=CHALLENGE_SECONDS * 1000
        )
        await self._challenges.put(
            LOGIN_PURPOSE, str(challenge_id), challenge, ttl_seconds=CHALLENGE_SECONDS
        )
        return CeremonyOptions(challenge_id, options)


class Assertion(msgspec.Struct, frozen=True):
    challenge_id: uuid.UUID
    credential: Mapping[str, Any]
    ip_address: str | None = None
    user_agent: str | None = None


class PasskeyLogIn:
    """Verifies an assertion and opens a session, as a password sign-in does
    (`SessionOpener`: account standing, new-device alert, audit with `method` "passkey").

    Rules:
    - the challenge is taken first, so it is spent whatever happens next; an unknown,
      expired or spent one is a 400 (`ChallengeNotFound`);
    - an unknown credential, a deleted account and every verification failure answer the
      same 401 (`PasskeyRejected`);
    - the sign counter: when the stored or presented count is non-zero, the presented one
      must be greater (`looks_cloned`); otherwise the private key is in two authenticators.
      Only a verified signature gets that far, and the refusal is audited
      (`user.login.failed`, reason `sign_count`); the stored count is left as it was;
    - the new count is stored compare-and-set: of two sign-ins racing with one counter
      value, the second is refused.
    """

    def __init__(
        self,
        users: UserRepository,
        passkeys: PasskeyRepository,
        challenges: ChallengeStore,
        ceremonies: PasskeyCeremonies,
        sessions: SessionStore,
        tokens: TokenIssuer,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
        audit: AuditTrail,
    ) -> None:
        self._users, self._passkeys = users, passkeys
        self._challenges, self._ceremonies = challenges, ceremonies
        self._uow, self._clock, self._scope = unit_of_work, clock, scope
        self._opener = SessionOpener(sessions, tokens, outbox, unit_of_work, clock, config, audit)

    async def execute(self, assertion: Assertion) -> TokenPair:
        challenge = await self._challenges.take(LOGIN_PURPOSE, str(assertion.challenge_id))
        if challenge is None:
            raise ChallengeNotFound(field="challenge_id")
        credential_id = self._ceremonies.credential_id(assertion.credential)
        # The credential names its user, in whichever tenant: looked up in every tenant.
        self._scope.across_tenants("passkey sign-in")
        passkey = await self._passkeys.by_credential_id(credential_id)
        user = None if passkey is None else await self._users.get(passkey.user_id)
        if passkey is None or user is None:
            await self._uow.rollback()
            raise PasskeyRejected()
        checked = self._ceremonies.verify_assertion(
            assertion.credential,
            challenge=challenge,
            public_key=passkey.public_key,
            user_handle=user.id.bytes,
        )
        if looks_cloned(passkey.sign_count, checked.sign_count):
            logger.warning(
                "passkey sign counter did not increase: cloned authenticator?",
                extra={"user_id": str(user.id), "passkey_id": str(passkey.id)},
            )
            await self._opener.failed(user, "sign_count", method=SignInMethod.PASSKEY)
            raise PasskeyRejected()
        await self._opener.refuse_unless_allowed(user, method=SignInMethod.PASSKEY)
        recorded = await self._passkeys.record_use(
            passkey.id,
            seen_count=passkey.sign_count,
            sign_count=checked.sign_count,
            used_at=self._clock.now(),
        )
        if not recorded:
            await self._uow.rollback()
            raise PasskeyRejected()
        return await self._opener.open(
            user,
            method=SignInMethod.PASSKEY,
            ip_address=assertion.ip_address,
            user_agent=assertion.user_agent,
        )
