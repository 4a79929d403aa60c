from __future__ import annotations

from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.ports import LiveSessions, TokenIssuer
from tessera.features.identity.domain.errors import InvalidToken
from tessera.shared.application.callers import Admission
from tessera.shared.application.ports import Clock
from tessera.shared.application.rate_limits import RoleLimits, decide
from tessera.shared.domain.caller import Principal


class Authenticate:
    """Turns a bearer access token into the caller (the `Authenticator` of the HTTP layer).

    Rules: the token must be a valid access token AND its session must be alive, so logout,
    revocation, password changes and account deletion take effect on the next request;
    each use slides the session's idle expiry; role and tenant come from the session. The
    request's rate-limit hit, when asked for, is counted by the same session touch, in the
    group of the session's current role, and the caller's cached profile comes with it: one
    round trip for all three.
    """

    def __init__(
        self, tokens: TokenIssuer, sessions: LiveSessions, clock: Clock, config: IdentityConfig
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock
        self._config = config

    async def execute(self, access_token: str) -> Principal:
        return (await self.admit(access_token, count_in=None)).caller

    async def admit(self, access_token: str, *, count_in: RoleLimits | None) -> Admission:
        claims = self._tokens.verify(access_token, expected_type="access")
        now = self._clock.now()
        touched = await self._sessions.touch(
            claims.user_id,
            claims.session_id,
            now=now,
            idle_seconds=self._config.idle_ttl_seconds,
            count_in=count_in,
        )
        if touched is None:
            raise InvalidToken()
        caller, requests = touched.caller, touched.requests
        counted = None
        if count_in is not None and requests is not None:
            counted = decide(count_in.group_for(caller.role), requests, now)
        return Admission(caller, counted, touched.profile)
