"""Turning TOTP two-factor sign-in on and off, and the recovery codes (SPEC §3.13)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tessera.features.audit.application.ports import AuditTrail
from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import (
    MFA_TURNED_OFF,
    MFA_TURNED_ON,
    RECOVERY_CODES_REPLACED,
    IdentityConfig,
    live_user,
    record_security_alert,
)
from tessera.features.identity.application.ports import (
    MfaCredentials,
    MfaSecretBox,
    PasswordHasher,
    SessionStore,
    TenantDirectory,
    UserRepository,
)
from tessera.features.identity.application.second_factor import SecondFactor
from tessera.features.identity.domain.errors import InvalidCredentials
from tessera.features.identity.domain.mfa import (
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    NoPendingMfaSetup,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    normalised_recovery_code,
    provisioning_uri,
    recovery_code_hash,
)
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import Forbidden, InvalidInput

MfaCode = Annotated[
    str,
    msgspec.Meta(
        min_length=6,
        max_length=32,
        description="The 6-digit code the authenticator app shows, or (where a recovery code "
        "is taken) one of the recovery codes; spaces and hyphens in it are ignored.",
    ),
]


class TotpSetup(msgspec.Struct, frozen=True):
    """A new secret, pending until confirmed with a code from it."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(msgspec.Struct, frozen=True):
    """Shown once: only their hashes are kept. Each signs in once instead of a TOTP code."""

    recovery_codes: list[str]


class MfaStatus(msgspec.Struct, frozen=True):
    totp_enabled: bool
    totp_pending: bool  # a setup waits for its confirmation
    recovery_codes_left: int


def _hashes(user: User, codes: list[str]) -> list[str]:
    return [recovery_code_hash(user.id, normalised_recovery_code(code) or "") for code in codes]


class SetUpTotp:
    """A fresh secret for the caller, pending until `ConfirmTotp`; a second setup before
    confirming replaces the pending one. 409 when TOTP is already on. The secret is stored
    sealed (`MfaSecretBox`); the `otpauth://` URI names the configured issuer and the
    account's email."""

    def __init__(
        self,
        users: UserRepository,
        credentials: MfaCredentials,
        box: MfaSecretBox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
    ) -> None:
        self._users, self._credentials, self._box = users, credentials, box
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self, principal: Principal) -> TotpSetup:
        user = await live_user(self._users, principal)
        secret = new_totp_secret()
        pending = await self._credentials.set_pending(
            user_id=user.id,
            tenant_id=user.tenant_id,
            sealed_secret=self._box.seal(secret),
            now=self._clock.now(),
        )
        if not pending:
            raise MfaAlreadyEnabled()
        await self._uow.commit()
        uri = provisioning_uri(secret, account=user.email, issuer=self._config.mfa_issuer)
        return TotpSetup(secret=secret, otpauth_uri=uri)


class ConfirmTotp:
    """A code from the pending secret turns TOTP on (its step counts as used) and returns
    ten new recovery codes; `user.mfa.enabled` is audited and the user alerted. The caller's
    session then counts as MFA and no longer needs enrolment. A wrong code is a 400 naming
    `code`; no pending setup or TOTP already on, 409."""

    def __init__(
        self,
        users: UserRepository,
        credentials: MfaCredentials,
        box: MfaSecretBox,
        sessions: SessionStore,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        audit: AuditTrail,
    ) -> None:
        self._users, self._credentials, self._box = users, credentials, box
        self._sessions, self._outbox, self._uow = sessions, outbox, unit_of_work
        self._clock, self._audit = clock, audit

    async def execute(self, principal: Principal, code: str) -> RecoveryCodes:
        user = await live_user(self._users, principal)
        credential = await self._credentials.get(user.id)
        if credential is None:
            raise NoPendingMfaSetup()
        if credential.enabled:
            raise MfaAlreadyEnabled()
        now = self._clock.now()
        step = matching_step(self._box.open(credential.sealed_secret), code, now)
        if step is None:
            raise InvalidInput(
                "The code does not match: enter the one the authenticator app shows now.",
                field="code",
            )
        codes = new_recovery_codes()
        if not await self._credentials.enable(
            user.id, step=step, code_hashes=_hashes(user, codes), now=now
        ):
            raise NoPendingMfaSetup()  # confirmed or replaced meanwhile
        record_security_alert(self._outbox, user, MFA_TURNED_ON, now)
        self._audit.record(
            AuditAction.MFA_ENABLED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
        await self._sessions.mark_mfa(user.id, principal.session_id)
        return RecoveryCodes(codes)


class GetMfaStatus:
    """Whether the caller has TOTP on (or a setup pending), and how many unused recovery
    codes remain."""

    def __init__(self, credentials: MfaCredentials) -> None:
        self._credentials = credentials

    async def execute(self, principal: Principal) -> MfaStatus:
        credential = await self._credentials.get(principal.user_id)
        enabled = credential is not None and credential.enabled
        left = await self._credentials.recovery_codes_left(principal.user_id) if enabled else 0
        return MfaStatus(
            totp_enabled=enabled,
            totp_pending=credential is not None and not credential.enabled,
            recovery_codes_left=left,
        )


class RegenerateRecoveryCodes:
    """A current TOTP code (not a recovery code) replaces every recovery code with ten new
    ones. A wrong code is a 401, as at sign-in; TOTP off, 409."""

    def __init__(
        self,
        users: UserRepository,
        credentials: MfaCredentials,
        box: MfaSecretBox,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users, self._credentials = users, credentials
        self._factor = SecondFactor(credentials, box, clock)
        self._outbox, self._uow, self._clock = outbox, unit_of_work, clock

    async def execute(self, principal: Principal, code: str) -> RecoveryCodes:
        user = await live_user(self._users, principal)
        credential = await self._credentials.get(user.id)
        if credential is None or not credential.enabled:
            raise MfaNotEnabled()
        if await self._factor.spend(user.id, code, recovery=False) is None:
            raise InvalidMfaCode()
        codes = new_recovery_codes()
        await self._credentials.replace_recovery_codes(
            user.id, tenant_id=user.tenant_id, code_hashes=_hashes(user, codes)
        )
        record_security_alert(self._outbox, user, RECOVERY_CODES_REPLACED, self._clock.now())
        await self._uow.commit()
        return RecoveryCodes(codes)


class DisableTotp:
    """Turns TOTP off: needs the password (401 `InvalidCredentials` otherwise) and a current
    code, TOTP or recovery (401 `InvalidMfaCode`); TOTP off already, 409; a tenant that
    requires MFA, 403. The secret and recovery codes are forgotten, `user.mfa.disabled`
    audited and the user alerted."""

    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        credentials: MfaCredentials,
        box: MfaSecretBox,
        tenants: TenantDirectory,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        audit: AuditTrail,
    ) -> None:
        self._users, self._hasher, self._credentials = users, hasher, credentials
        self._factor = SecondFactor(credentials, box, clock)
        self._tenants, self._outbox, self._uow = tenants, outbox, unit_of_work
        self._clock, self._audit = clock, audit

    async def execute(self, principal: Principal, password: str, code: str) -> None:
        user = await live_user(self._users, principal)
        credential = await self._credentials.get(user.id)
        if credential is None or not credential.enabled:
            raise MfaNotEnabled()
        if await self._tenants.requires_mfa(user.tenant_id):
            raise Forbidden(
                "Your organisation requires two-factor sign-in: it cannot be turned off."
            )
        await self._uow.rollback()  # no transaction held while the password is hashed
        if not await self._hasher.verify(user.password_hash, password):
            raise InvalidCredentials("The password is wrong.")
        if await self._factor.spend(user.id, code) is None:
            raise InvalidMfaCode()
        await self._credentials.remove(user.id)
        record_security_alert(self._outbox, user, MFA_TURNED_OFF, self._clock.now())
        self._audit.record(
            AuditAction.MFA_DISABLED,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
        await self._uow.commit()
