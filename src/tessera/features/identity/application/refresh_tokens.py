from __future__ import annotations

import logging
from datetime import datetime

from tessera.features.identity.application.accounts import IdentityConfig, hash_token
from tessera.features.identity.application.ports import SessionStore, TokenIssuer
from tessera.features.identity.application.token_pairs import (
    PairSpec,
    TokenPair,
    issue_pair,
    whole_seconds,
)
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import (
    REFRESH_GRACE_SECONDS,
    RotationOutcome,
    TokenClaims,
)
from tessera.shared.application.ports import Clock

logger = logging.getLogger("tessera.security")


class RefreshTokens:
    """Trades a refresh token for a new pair (rotation).

    Rules:
    - only a refresh token of a live session is accepted, and only its current one;
    - concurrent refreshes with one token rotate once: within 10 s the immediate parent
      gets the same new pair back;
    - any other earlier token means it was stolen: the whole session is revoked.
    """

    def __init__(
        self, tokens: TokenIssuer, sessions: SessionStore, clock: Clock, config: IdentityConfig
    ) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock
        self._config = config

    async def execute(self, refresh_token: str) -> TokenPair:
        claims = self._tokens.verify(refresh_token, expected_type="refresh")
        now = whole_seconds(self._clock.now())
        current = _generation(claims)
        rotated = self._spec(claims, current + 1, now)
        rotation = await self._sessions.rotate(
            claims.user_id,
            claims.session_id,
            presented_hash=hash_token(refresh_token),
            new_hash=hash_token(issue_pair(self._tokens, rotated, self._config).refresh_token),
            now=now,
            grace_seconds=REFRESH_GRACE_SECONDS,
            idle_seconds=self._config.idle_ttl_seconds,
        )
        if rotation.outcome is RotationOutcome.REUSED:
            logger.warning(
                "refresh token reused: session revoked",
                extra={"user_id": str(claims.user_id), "session_id": str(claims.session_id)},
            )
        if rotation.session is None:
            raise InvalidToken()
        session = rotation.session
        spec = self._spec(claims, session.generation, whole_seconds(session.rotated_at))
        return issue_pair(self._tokens, spec, self._config)

    @staticmethod
    def _spec(claims: TokenClaims, generation: int, issued_at: datetime) -> PairSpec:
        return PairSpec(
            claims.user_id,
            claims.session_id,
            claims.tenant_id,
            claims.role,
            generation,
            issued_at,
            claims.expires_at,
        )


def _generation(claims: TokenClaims) -> int:
    """Token ids are `<session>.<generation>.<a|r>`; anything else is not ours."""
    parts = claims.token_id.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise InvalidToken()
    return int(parts[1])
