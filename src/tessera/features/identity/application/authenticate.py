from __future__ import annotations

from tessera.features.identity.application.common import IdentityConfig
from tessera.features.identity.application.ports import SessionStore, TokenIssuer
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import Principal
from tessera.shared.application.ports import Clock


class Authenticate:
    """Turns a bearer access token into the caller.

    Rules: the token must be a valid access token AND its session must be alive, so logout,
    revocation, password changes and account deletion take effect on the next request;
    each use slides the session's idle expiry; role and tenant come from the session.
    """

    def __init__(
        self, tokens: TokenIssuer, sessions: SessionStore, clock: Clock, config: IdentityConfig
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock
        self._config = config

    async def execute(self, access_token: str) -> Principal:
        claims = self._tokens.verify(access_token, expected_type="access")
        caller = await self._sessions.touch(
            claims.user_id, claims.session_id, now=self._clock.now(),
            idle_seconds=self._config.idle_ttl_seconds,
        )  # fmt: skip
        if caller is None:
            raise InvalidToken()
        return caller
