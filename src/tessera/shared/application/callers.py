"""The port the HTTP layer settles a request's caller through (identity implements it)."""

from __future__ import annotations

from typing import Protocol

import msgspec

from tessera.shared.application.rate_limits import RateLimitDecision, RoleLimits
from tessera.shared.domain.caller import Principal


class Admission(msgspec.Struct, frozen=True):
    """An authenticated caller; when it was asked for, this request counted in the group of
    the caller's current role; and the caller's cached profile (identity's JSON) when the
    session check read one with the session, so the profile needs no look-up of its own."""

    caller: Principal
    counted: RateLimitDecision | None = None
    profile: bytes | None = None


class Authenticator(Protocol):
    async def admit(self, access_token: str, *, count_in: RoleLimits | None) -> Admission:
        """The caller of a valid access token of a live session, whose idle expiry this
        slides; given `count_in`, the request is counted in the group of the session's
        current role in the same atomic step (a token whose session has ended counts
        nowhere). Raises `Unauthenticated` for a token that is not valid or whose session
        has ended, `DependencyUnavailable` when the session store is down."""
        ...
