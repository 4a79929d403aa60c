"""The `TokenIssuer` contract, run against `JwtTokenIssuer`, trying hard to make it accept
a token it must refuse (SPEC §3.3, "Tokens")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest

from tessera.features.identity.adapters.jwt_tokens import JwtTokenIssuer
from tessera.features.identity.application.ports import TokenIssuer
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import TokenType
from tessera.shared.domain.caller import Role

SECRET = "contract-test-secret-" + "0123456789abcdef" * 3  # 69 bytes: enough even for HS512
ISSUER = "https://tessera.test"
AUDIENCE = "tessera-api"
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
TTL = 900
USER = uuid.UUID("3f6c1e2a-9b7d-4c51-8e0f-2a4b6c8d0e1f")
SESSION = uuid.UUID("8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d")
TENANT = uuid.UUID("c0ffee00-1234-4abc-8def-0123456789ab")
ALL_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "tid", "role", "typ"]


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def __call__(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def issuer(clock: FakeClock) -> TokenIssuer:
    return JwtTokenIssuer(SECRET, issuer=ISSUER, audience=AUDIENCE, clock=clock)


def issue(issuer: TokenIssuer, token_type: TokenType = "access", **changes: Any) -> str:
    arguments: dict[str, Any] = {
        "user_id": USER,
        "session_id": SESSION,
        "tenant_id": TENANT,
        "role": Role.TENANT_ADMIN,
        "token_type": token_type,
        "token_id": "jti-1",
        "issued_at": NOW,
        "ttl_seconds": TTL,
    } | changes
    return issuer.issue(**arguments).token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def valid_claims(**changes: Any) -> dict[str, Any]:
    iat = int(NOW.timestamp())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(USER),
        "exp": iat + TTL,
        "iat": iat,
        "nbf": iat,
        "jti": "jti-1",
        "sid": str(SESSION),
        "tid": str(TENANT),
        "role": "user",
        "typ": "access",
    } | changes


def hs256(payload: dict[str, Any], *, header: dict[str, Any] | None = None, key: str = "") -> str:
    """A token signed by hand, so nothing in PyJWT stops us from making it malformed."""
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new((key or SECRET).encode(), f"{head}.{body}".encode(), hashlib.sha256)
    return f"{head}.{body}.{b64(mac.digest())}"


def refused(issuer: TokenIssuer, token: str, expected_type: TokenType = "access") -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        issuer.verify(token, expected_type=expected_type)
    return caught.value


# --- what a good token carries -----------------------------------------------------------


@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_every_claim_survives_a_round_trip(issuer: TokenIssuer, token_type: TokenType) -> None:
    issued = issuer.issue(
        user_id=USER,
        session_id=SESSION,
        tenant_id=TENANT,
        role=Role.ADMIN,
        token_type=token_type,
        token_id="a-token-id",
        issued_at=NOW,
        ttl_seconds=TTL,
    )
    claims = issuer.verify(issued.token, expected_type=token_type)
    assert claims == issued.claims
    assert (claims.user_id, claims.session_id, claims.tenant_id) == (USER, SESSION, TENANT)
    assert (claims.role, claims.token_type) == (Role.ADMIN, token_type)
    assert claims.token_id == "a-token-id"
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + timedelta(seconds=TTL))


def test_the_token_holds_exactly_the_specified_header_and_claims(issuer: TokenIssuer) -> None:
    head, body, _ = issue(issuer, "refresh").split(".")
    assert json.loads(unb64(head)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(unb64(body)) == valid_claims(role="tenant_admin", typ="refresh")


def test_issuing_twice_with_the_same_inputs_gives_the_same_token(issuer: TokenIssuer) -> None:
    assert issue(issuer) == issue(issuer)
    assert issue(issuer) != issue(issuer, token_id="jti-2")


def test_times_are_whole_seconds_and_the_claims_say_so(issuer: TokenIssuer) -> None:
    issued = issuer.issue(
        user_id=USER,
        session_id=SESSION,
        tenant_id=TENANT,
        role=Role.USER,
        token_type="access",
        token_id="j",
        issued_at=NOW + timedelta(microseconds=999_999),
        ttl_seconds=60,
    )
    assert issued.claims.issued_at == NOW
    assert issued.claims.expires_at == NOW + timedelta(seconds=60)
    assert issued.token == issue(issuer, role=Role.USER, token_id="j", ttl_seconds=60)


def test_a_naive_issue_time_is_refused(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="timezone"):
        issue(issuer, issued_at=NOW.replace(tzinfo=None))


# --- the two token types never stand in for each other -----------------------------------


@pytest.mark.parametrize(("made", "presented"), [("refresh", "access"), ("access", "refresh")])
def test_a_token_of_one_type_is_refused_as_the_other(
    issuer: TokenIssuer, made: TokenType, presented: TokenType
) -> None:
    refused(issuer, issue(issuer, made), expected_type=presented)


# --- algorithms: HS256 and nothing else --------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_an_unsigned_alg_none_token_is_refused(issuer: TokenIssuer, alg: str) -> None:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(valid_claims()).encode())
    refused(issuer, f"{head}.{body}.")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_a_token_signed_with_the_right_secret_but_another_hmac_is_refused(
    issuer: TokenIssuer, alg: str
) -> None:
    refused(issuer, jwt.encode(valid_claims(), SECRET, algorithm=alg))


def test_a_genuine_rs256_token_is_refused(issuer: TokenIssuer, rsa_key: RsaKey) -> None:
    head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(valid_claims()).encode())
    signature = rsa_key.sign(f"{head}.{body}".encode())
    refused(issuer, f"{head}.{body}.{b64(signature)}")


def test_an_hs256_token_keyed_with_a_public_key_is_refused(
    issuer: TokenIssuer, rsa_key: RsaKey
) -> None:
    refused(issuer, hs256(valid_claims(), key=rsa_key.public_pem()))


def test_a_public_key_cannot_be_configured_as_the_secret(rsa_key: RsaKey) -> None:
    pem = rsa_key.public_pem()
    with pytest.raises(ValueError, match="PEM"):
        JwtTokenIssuer(pem, issuer=ISSUER, audience=AUDIENCE)


def test_a_token_claiming_hs256_but_signed_with_another_key_is_refused(
    issuer: TokenIssuer,
) -> None:
    refused(issuer, hs256(valid_claims(), key="another-secret-of-enough-length-0123456789"))
    other = JwtTokenIssuer("x" * 32 + SECRET, issuer=ISSUER, audience=AUDIENCE)
    refused(issuer, issue(other))


@pytest.mark.parametrize("part", ["header", "payload", "signature"])
def test_a_tampered_token_is_refused(issuer: TokenIssuer, part: str) -> None:
    head, body, signature = issue(issuer).split(".")
    if part == "header":
        head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())  # same meaning
    elif part == "payload":
        body = b64(json.dumps(valid_claims(role="admin")).encode())
    else:
        signature = b64(unb64(signature)[:-1] + bytes([unb64(signature)[-1] ^ 1]))
    refused(issuer, f"{head}.{body}.{signature}")


def test_a_token_without_its_signature_is_refused(issuer: TokenIssuer) -> None:
    head, body, _ = issue(issuer).split(".")
    refused(issuer, f"{head}.{body}.")


# --- issuer, audience, required claims ---------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", "another-api"),
        ("aud", [AUDIENCE]),
        ("aud", [AUDIENCE, "another-api"]),
        ("iss", "https://attacker.test"),
        ("iss", ISSUER + "/"),
    ],
)
def test_another_audience_or_issuer_is_refused(issuer: TokenIssuer, claim: str, value: Any) -> None:
    refused(issuer, hs256(valid_claims(**{claim: value})))


def test_a_token_from_an_issuer_configured_for_another_audience_is_refused(
    issuer: TokenIssuer,
) -> None:
    refused(issuer, issue(JwtTokenIssuer(SECRET, issuer=ISSUER, audience="another-api")))
    refused(issuer, issue(JwtTokenIssuer(SECRET, issuer="https://else.test", audience=AUDIENCE)))


@pytest.mark.parametrize("claim", ALL_CLAIMS)
def test_a_token_missing_any_required_claim_is_refused(issuer: TokenIssuer, claim: str) -> None:
    payload = valid_claims()
    del payload[claim]
    refused(issuer, hs256(payload))
    refused(issuer, hs256(payload | {claim: None}))


def test_a_hand_made_token_with_every_claim_is_accepted(issuer: TokenIssuer) -> None:
    """The hand-made tokens in this file fail for the reason each test names, not another."""
    assert issuer.verify(hs256(valid_claims()), expected_type="access").user_id == USER


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("role", "superuser"),
        ("role", "ADMIN"),
        ("role", ["admin"]),
        ("typ", "id"),
        ("sub", "42"),
        ("sub", 42),
        ("sub", str(USER).upper()),
        ("sid", "not-a-uuid"),
        ("sid", SESSION.hex),
        ("tid", ""),
        ("tid", f"{{{TENANT}}}"),
        ("jti", ""),
        ("jti", 7),
        ("exp", str(int(NOW.timestamp()) + TTL)),
        ("exp", NOW.timestamp() + TTL + 0.5),
        ("exp", 10**20),  # beyond any datetime
        ("iat", True),
        ("nbf", "0"),
    ],
)
def test_a_claim_of_the_wrong_shape_is_refused(issuer: TokenIssuer, claim: str, value: Any) -> None:
    refused(issuer, hs256(valid_claims(**{claim: value})))


# --- time, judged by the injected clock --------------------------------------------------


def test_an_expired_token_is_accepted_within_the_leeway(
    issuer: TokenIssuer, clock: FakeClock
) -> None:
    token = issue(issuer)
    clock.current = NOW + timedelta(seconds=TTL + 29)
    assert issuer.verify(token, expected_type="access").user_id == USER


@pytest.mark.parametrize("late", [30, 31, 86_400])
def test_a_token_expired_beyond_the_leeway_is_refused(
    issuer: TokenIssuer, clock: FakeClock, late: int
) -> None:
    token = issue(issuer)
    clock.current = NOW + timedelta(seconds=TTL + late)
    assert refused(issuer, token).details == {"reason": "expired"}


def test_a_token_not_yet_valid_is_accepted_within_the_leeway_only(
    issuer: TokenIssuer, clock: FakeClock
) -> None:
    clock.current = NOW - timedelta(seconds=29)
    assert issuer.verify(issue(issuer), expected_type="access").issued_at == NOW
    clock.current = NOW - timedelta(seconds=31)
    refused(issuer, issue(issuer))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_future_nbf_or_iat_beyond_the_leeway_is_refused(issuer: TokenIssuer, claim: str) -> None:
    refused(issuer, hs256(valid_claims(**{claim: int(NOW.timestamp()) + 31})))


# --- headers that would choose, fetch or reinterpret a key -------------------------------


@pytest.fixture
def key_server() -> Iterator[tuple[str, list[str]]]:
    """A local server that records every request: a verifier that fetches shows up here."""
    hits: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "extra",
    [
        {"kid": "primary"},
        {"jku": "{url}/jwks.json"},
        {"x5u": "{url}/cert.pem"},
        {"jwk": {"kty": "oct", "k": b64(SECRET.encode())}},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        {"crit": ["exp"]},
        {"crit": ["b64"], "b64": True},
        {"typ": "at+jwt"},
        {"zip": "DEF"},
    ],
)
def test_a_header_naming_a_key_or_an_extension_is_refused_without_fetching(
    issuer: TokenIssuer, key_server: tuple[str, list[str]], extra: dict[str, Any]
) -> None:
    url, hits = key_server
    extra = {k: v.format(url=url) if isinstance(v, str) else v for k, v in extra.items()}
    refused(issuer, hs256(valid_claims(), header={"alg": "HS256", "typ": "JWT"} | extra))
    assert hits == []


# --- configuration and garbage -----------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "é" * 15])
def test_a_secret_shorter_than_32_bytes_is_refused_at_construction(secret: str) -> None:
    with pytest.raises(ValueError, match="32 bytes") as caught:
        JwtTokenIssuer(secret, issuer=ISSUER, audience=AUDIENCE)
    assert not secret or secret not in str(caught.value)


def test_a_secret_is_measured_in_utf8_bytes() -> None:
    JwtTokenIssuer("é" * 16, issuer=ISSUER, audience=AUDIENCE)  # 16 characters, 32 bytes


HS256_HEADER = b'{"alg":"HS256","typ":"JWT"}'


def nested_header_token() -> str:
    head = b64(b"[" * 3000 + b"]" * 3000)
    return f"{head}.{b64(b'{}')}.{b64(b'x')}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "...",
        "a.b.c.d.e",
        "\ud800.\udfff.x",
        "é.é.é",
        f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'x')}",
        f"{b64(b'{}')}.{b64(b'[1]')}.{b64(b'x')}",
        f"{b64(b'{}')}.{b64(b'not json')}.{b64(b'x')}",
        f"{b64(HS256_HEADER)}.{b64(b'not json')}.{b64(bytes(32))}",
        nested_header_token(),
        "A" * 100_000,
    ],
)
def test_garbage_is_refused(issuer: TokenIssuer, token: str) -> None:
    refused(issuer, token)


def test_a_token_has_exactly_one_accepted_spelling(issuer: TokenIssuer) -> None:
    """Refresh tokens are stored as hashes: a second spelling of one token must not pass."""
    token = issue(issuer)
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bits = alphabet[alphabet.index(signature[-1]) ^ 1]  # differs only in unused bits
    for spelling in (
        f"{token}=",
        f"{head}.{body}.{signature}=",
        f"{head}=.{body}.{signature}",
        f"{head}.{body}.{signature[:-1]}{same_bits}",
        f"{head}.{body}.{base64.b64encode(unb64(signature)).decode()}",
        f"Bearer {token}",
        f" {token}",
        f"{token}\n",
        f"{token}.",
    ):
        refused(issuer, spelling)


def test_the_error_reveals_neither_the_secret_nor_internals(issuer: TokenIssuer) -> None:
    failures = [
        refused(issuer, "garbage"),
        refused(issuer, issue(issuer, "refresh")),
        refused(issuer, jwt.encode(valid_claims(), SECRET, algorithm="HS512")),
        refused(issuer, hs256(valid_claims(aud="x"))),
        refused(issuer, hs256({k: v for k, v in valid_claims().items() if k != "sid"})),
        refused(issuer, hs256(valid_claims(), header={"alg": "HS256", "kid": "k"})),
    ]
    for error in failures:
        assert error.message == InvalidToken.default_message
        assert error.details is None
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
        for text in (str(error), repr(error), error.message):
            assert SECRET not in text
            assert "jwt" not in text.lower()
            assert "sid" not in text


# --- a throwaway RSA key, in plain Python (the `cryptography` package is not installed) ---


class RsaKey:
    """Textbook RSA with PKCS#1 v1.5 / SHA-256 signatures: just enough to make real RS256
    tokens and a real public key PEM for the tests above. Not for anything else."""

    DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

    def __init__(self, bits: int = 1024) -> None:  # small and quick: the key only signs junk
        self.e = 65537
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            phi = (p - 1) * (q - 1)
            if p != q and math.gcd(self.e, phi) == 1:
                break
        self.n, self.d = p * q, pow(self.e, -1, phi)
        self.size = (self.n.bit_length() + 7) // 8

    def sign(self, message: bytes) -> bytes:
        t = self.DIGEST_INFO + hashlib.sha256(message).digest()
        encoded = b"\x00\x01" + b"\xff" * (self.size - len(t) - 3) + b"\x00" + t
        signature = pow(int.from_bytes(encoded, "big"), self.d, self.n)
        assert pow(signature, self.e, self.n) == int.from_bytes(encoded, "big")
        return signature.to_bytes(self.size, "big")

    def public_pem(self) -> str:
        rsa_public_key = _der(0x30, _der_int(self.n) + _der_int(self.e))
        algorithm = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL
        spki = _der(0x30, algorithm + _der(0x03, b"\x00" + rsa_public_key))
        text = base64.b64encode(spki).decode()
        lines = [text[i : i + 64] for i in range(0, len(text), 64)]
        return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])


@pytest.fixture(scope="module")
def rsa_key() -> RsaKey:
    return RsaKey()


SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if all(candidate % p for p in SMALL_PRIMES) and _probably_prime(candidate):
            return candidate


def _probably_prime(n: int, rounds: int = 32) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))
