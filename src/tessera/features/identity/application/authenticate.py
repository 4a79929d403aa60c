from __future__ import annotations

from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.ports import SessionStore, TokenIssuer
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import TokenClaims
from tessera.shared.application.ports import Clock
from tessera.shared.domain.caller import Principal


class Authenticate:
    """Turns a bearer access token into the caller.

    Rules: the token must be a valid access token AND its session must be alive, so logout,
    revocation, password changes and account deletion take effect on the next request;
    each use slides the session's idle expiry; role and tenant come from the session.

    The two checks are also offered one at a time (`claims`, then `confirm`), so a caller
    can start the session check and do other work while it is in flight.
    """

    def __init__(
        self, tokens: TokenIssuer, sessions: SessionStore, clock: Clock, config: IdentityConfig
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock
        self._config = config

    async def execute(self, access_token: str) -> Principal:
        return await self.confirm(self.claims(access_token))

    def claims(self, access_token: str) -> TokenClaims:
        """The claims of a valid access token (no I/O); raises `InvalidToken`. Not yet a
        caller: the token's session may have ended."""
        return self._tokens.verify(access_token, expected_type="access")

    async def confirm(self, claims: TokenClaims) -> Principal:
        """The caller of a verified token, if its session is alive (sliding its idle
        expiry); raises `InvalidToken` otherwise."""
        caller = await self._sessions.touch(
            claims.user_id,
            claims.session_id,
            now=self._clock.now(),
            idle_seconds=self._config.idle_ttl_seconds,
        )
        if caller is None:
            raise InvalidToken()
        return caller
