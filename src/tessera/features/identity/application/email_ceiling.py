"""The per-account ceiling on emails a caller can make Tessera send (SPEC §3.12)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum

from tessera.features.identity.application.accounts import IdentityConfig
from tessera.shared.application.ports import Cache
from tessera.shared.domain.errors import DependencyUnavailable

logger = logging.getLogger("tessera.security")

WINDOW_SECONDS = 3600
WARN_EVERY_SECONDS = 60.0


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
    Keys hold a SHA-256 of the address, never the address.

    Fails open, like the rate limits: while the cache is down every email is allowed and a
    warning is logged at most once a minute, so a Redis outage costs the ceiling, not
    sign-ups or reset links (which need only the database). `ForgotPassword` asks before it
    looks the account up, so its answer reveals nothing either way.
    """

    def __init__(
        self, cache: Cache, config: IdentityConfig, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache = cache
        self._limit = config.email_per_account_per_hour
        self._monotonic = monotonic
        self._last_warning: float | None = None

    async def allows(self, kind: MailKind, email: str) -> bool:
        """Count one email of `kind` to `email`; False when it is past the ceiling."""
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        try:
            counter = await self._cache.increment(
                f"email:ceiling:{kind.value}:{digest}", window_seconds=WINDOW_SECONDS
            )
        except DependencyUnavailable:
            self._warn_cache_down()
            return True
        if counter.value <= self._limit:
            return True
        logger.warning(
            "email not sent: per-account ceiling reached",
            extra={"kind": kind.value, "address_hash": digest, "count": counter.value},
        )
        return False

    def _warn_cache_down(self) -> None:
        now = self._monotonic()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning("email ceiling not enforced: the cache is unavailable")
