"""Access and refresh tokens as HS256 JWTs, signed and checked with PyJWT."""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.types import Options

from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import IssuedToken, TokenClaims, TokenType
from tessera.shared.domain.caller import Role

ALGORITHM = "HS256"
TOKEN_TYPES = frozenset(get_args(TokenType))
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "tid", "role", "typ")
MIN_SECRET_BYTES = 32
# Our tokens are about 500 characters; anything far longer is refused before it is parsed.
MAX_TOKEN_CHARS = 4096
VERIFIED_CACHE_SIZE = 4096
# Unpadded base64url only: PyJWT also accepts `=` padding, which would give one token several
# spellings (refresh tokens are looked up by hash, so each must have exactly one).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# The only header fields we write. Anything else (`kid`, `jku`, `jwk`, `x5u`, `x5c`, `crit`,
# `b64`, ...) would ask us to pick, fetch or interpret a key or format: such tokens are refused.
ALLOWED_HEADER_FIELDS = frozenset({"alg", "typ"})
DECODE_OPTIONS: Options = {
    "require": list(REQUIRED_CLAIMS),
    "verify_signature": True,
    "verify_aud": True,
    "strict_aud": True,  # one audience, a string, equal to ours
    "verify_iss": True,
    "verify_sub": True,  # sub and jti must be strings
    "verify_jti": True,
    # exp, nbf and iat are checked in `verify`, against the injected clock
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


class JwtTokenIssuer:
    """`TokenIssuer` for one HS256 secret. Time checks use `clock` (exp and nbf/iat with
    `leeway_seconds`), so expiry is testable without sleeping. Every failure of `verify` is
    the same generic `InvalidToken`; only expiry adds `details={"reason": "expired"}`."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        key = secret.encode("utf-8")
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"The JWT secret must be at least {MIN_SECRET_BYTES} bytes long.")
        try:  # PyJWT refuses PEM and SSH keys as HMAC secrets (the key-confusion attack).
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(key)
        except jwt.InvalidKeyError:
            raise ValueError("The JWT secret must not be a PEM or SSH key.") from None
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._verified: OrderedDict[str, _Checked] = OrderedDict()

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: Role,
        token_type: TokenType,
        token_id: str,
        issued_at: datetime,
        ttl_seconds: int,
    ) -> IssuedToken:
        if issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware.")
        iat = int(issued_at.timestamp())  # whole seconds, so the same instant signs the same
        exp = iat + ttl_seconds
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "jti": token_id,
            "sid": str(session_id),
            "tid": str(tenant_id),
            "role": Role(role).value,
            "typ": token_type,
        }
        token = jwt.encode(payload, self._key, algorithm=ALGORITHM)
        claims = TokenClaims(
            user_id=user_id,
            session_id=session_id,
            tenant_id=tenant_id,
            role=Role(role),
            token_type=token_type,
            token_id=token_id,
            issued_at=datetime.fromtimestamp(iat, UTC),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )
        return IssuedToken(token=token, claims=claims)

    def verify(self, token: str, *, expected_type: TokenType) -> TokenClaims:
        checked = self._checked(token)
        if checked.claims.token_type != expected_type:
            raise InvalidToken()
        now = self._clock().timestamp()
        if checked.expires <= now - self._leeway:
            raise InvalidToken(details={"reason": "expired"})
        if checked.not_before > now + self._leeway:
            raise InvalidToken()
        return checked.claims

    def _checked(self, token: str) -> _Checked:
        """The checks that do not depend on the time, remembered for recently seen tokens
        (a client sends the same access token with every request, and the rate limiter and
        the authentication both verify it); the time checks run on every call."""
        checked = self._verified.get(token)
        if checked is None:
            checked = _claims_of(self._decode_uncached(token))
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
            self._verified[token] = checked
        else:
            self._verified.move_to_end(token)
        return checked

    def _decode_uncached(self, token: str) -> dict[str, Any]:
        """Signature, algorithm, header, issuer, audience and presence of every claim."""
        if len(token) > MAX_TOKEN_CHARS or not TOKEN_SHAPE.fullmatch(token):
            raise InvalidToken()
        try:
            header = jwt.get_unverified_header(token)
            if not header.keys() <= ALLOWED_HEADER_FIELDS or header.get("typ", "JWT") != "JWT":
                raise InvalidToken()
            return jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # pinned: never taken from the token
                audience=self._audience,
                issuer=self._issuer,
                options=DECODE_OPTIONS,
            )
        except jwt.PyJWTError:
            raise InvalidToken() from None


@dataclass(frozen=True, slots=True)
class _Checked:
    """A token whose signature and time-independent claims hold, with its time bounds."""

    claims: TokenClaims
    expires: int
    not_before: int


def _claims_of(payload: dict[str, Any]) -> _Checked:
    exp, iat, nbf, jti, typ = (payload[k] for k in ("exp", "iat", "nbf", "jti", "typ"))
    if typ not in TOKEN_TYPES or not jti or {type(exp), type(iat), type(nbf)} != {int}:
        raise InvalidToken()
    try:
        claims = TokenClaims(
            user_id=_canonical_uuid(payload["sub"]),
            session_id=_canonical_uuid(payload["sid"]),
            tenant_id=_canonical_uuid(payload["tid"]),
            role=Role(payload["role"]),
            token_type=typ,
            token_id=jti,
            issued_at=datetime.fromtimestamp(iat, UTC),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )
    except (ValueError, TypeError, OverflowError, OSError):
        raise InvalidToken() from None
    return _Checked(claims, expires=exp, not_before=max(iat, nbf))


def _canonical_uuid(value: object) -> uuid.UUID:
    """A UUID written exactly as we write them (lowercase, hyphenated), else ValueError."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    parsed = uuid.UUID(value)
    if str(parsed) != value:
        raise ValueError("not canonical")
    return parsed
