"""Not a use case: checking a second factor (a TOTP code or a recovery code) and spending
it, which every use case that asks for one shares."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum

from tessera.features.identity.application.ports import MfaCredentials, MfaSecretBox
from tessera.features.identity.domain.mfa import (
    is_totp_code,
    matching_step,
    normalised_recovery_code,
    recovery_code_hash,
)
from tessera.shared.application.ports import Clock
from tessera.shared.application.secret_box import SecretUnreadable
from tessera.shared.domain.errors import DependencyUnavailable


class TotpSecretUnreadable(DependencyUnavailable):
    """The stored TOTP secret does not open with the configured key (DATA_ENCRYPTION_KEY
    changed): a server fault, answered 503; recovery codes still work."""

    default_message = (
        "Authenticator codes cannot be checked right now: use a recovery code, or try later."
    )


logger = logging.getLogger("tessera.security")


class Factor(StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


class SecondFactor:
    """A code is accepted once: a TOTP code spends its time step (and every earlier one), a
    recovery code spends itself, in the caller's transaction, which must commit for it to
    stay spent. Six digits are a TOTP code; anything else is tried as a recovery code."""

    def __init__(self, credentials: MfaCredentials, box: MfaSecretBox, clock: Clock) -> None:
        self._credentials, self._box, self._clock = credentials, box, clock

    async def spend(self, user_id: uuid.UUID, code: str, *, recovery: bool = True) -> Factor | None:
        """Which factor `code` proved, now spent; None when it proves nothing (wrong, used,
        too far from now, or the user has no TOTP on). `recovery=False` takes TOTP only."""
        credential = await self._credentials.get(user_id)
        if credential is None or not credential.enabled:
            return None
        if is_totp_code(code):
            try:
                secret = self._box.open(credential.sealed_secret)
            except SecretUnreadable:
                logger.exception("a TOTP secret cannot be opened", extra={"user_id": str(user_id)})
                raise TotpSecretUnreadable() from None
            step = matching_step(secret, code, self._clock.now())
            if step is None or not await self._credentials.use_step(user_id, step):
                return None
            return Factor.TOTP
        normalised = normalised_recovery_code(code) if recovery else None
        if normalised is None:
            return None
        code_hash = recovery_code_hash(user_id, normalised)
        if await self._credentials.use_recovery_code(user_id, code_hash, now=self._clock.now()):
            return Factor.RECOVERY_CODE
        return None
