"""A session's token pair: the access and refresh JWTs issued together, made only from the
session's record so a retried refresh inside the grace window gets the same pair."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import msgspec

from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.ports import TokenIssuer
from tessera.features.identity.domain.sessions import SessionRecord, TokenType
from tessera.shared.domain.caller import Role


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class PairSpec:
    """Everything a token pair is made of. Times are whole seconds (JWTs carry seconds),
    so the same spec always gives the same pair: that is what lets a retried refresh
    inside the grace window get the pair the first refresh got."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    generation: int
    issued_at: datetime
    expires_at: datetime  # the session's absolute end, which is the refresh token's

    @classmethod
    def of(cls, session: SessionRecord) -> PairSpec:
        return cls(
            session.user_id,
            session.session_id,
            session.tenant_id,
            session.role,
            session.generation,
            session.rotated_at,
            session.expires_at,
        )


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def issue_pair(tokens: TokenIssuer, spec: PairSpec, config: IdentityConfig) -> TokenPair:
    stem = f"{spec.session_id.hex}.{spec.generation}"
    refresh_ttl = max(int((spec.expires_at - spec.issued_at).total_seconds()), 1)

    def one(kind: TokenType, ttl: int) -> str:
        return tokens.issue(
            user_id=spec.user_id,
            session_id=spec.session_id,
            tenant_id=spec.tenant_id,
            role=spec.role,
            token_type=kind,
            token_id=f"{stem}.{kind[0]}",
            issued_at=spec.issued_at,
            ttl_seconds=ttl,
        ).token

    return TokenPair(
        one("access", config.access_ttl_seconds),
        one("refresh", refresh_ttl),
        config.access_ttl_seconds,
    )
