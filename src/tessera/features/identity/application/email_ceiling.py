"""The per-account ceiling on emails a caller can make Tessera send (SPEC §3.12)."""

from __future__ import annotations

import hashlib
import logging
from enum import StrEnum

from tessera.features.identity.application.common import IdentityConfig
from tessera.shared.application.ports import Cache

logger = logging.getLogger("tessera.security")

WINDOW_SECONDS = 3600


class MailKind(StrEnum):
    """The emails with a ceiling: each kind is counted on its own."""

    PASSWORD_RESET = "password_reset"
    VERIFY_EMAIL = "verify_email"
    INVITATION = "invitation"


class EmailCeiling:
    """At most `EMAIL_PER_ACCOUNT_PER_HOUR` emails of one kind to one address per hour.

    The account is the email address the message would go to (for an invitation, the
    invited address, which has no account yet), normalised as accounts store it. The hour
    is a fixed window starting with its first email; the count is `Cache.increment`, atomic
    across processes, so all of them together send no more. Every request counts, the
    refused ones too, and nothing else is told: the use cases answer as if they had sent.
    Keys hold a SHA-256 of the address, never the address. A cache outage raises
    `DependencyUnavailable` (503), before anything reveals whether the account exists.
    """

    def __init__(self, cache: Cache, config: IdentityConfig) -> None:
        self._cache = cache
        self._limit = config.email_per_account_per_hour

    async def allows(self, kind: MailKind, email: str) -> bool:
        """Count one email of `kind` to `email`; False when it is past the ceiling."""
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        counter = await self._cache.increment(
            f"email:ceiling:{kind.value}:{digest}", window_seconds=WINDOW_SECONDS
        )
        if counter.value <= self._limit:
            return True
        logger.warning(
            "email not sent: per-account ceiling reached",
            extra={"kind": kind.value, "address_hash": digest, "count": counter.value},
        )
        return False
