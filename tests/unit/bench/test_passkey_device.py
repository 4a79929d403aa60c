"""The bench's software passkey makes credentials a WebAuthn library accepts, and only for
what it was asked: the relying party's challenge, origin and id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bench.passkey_device import PasskeyDevice, cbor, from_b64url

RP_ID = "bench.example"
ORIGIN = "https://bench.example"
USER_HANDLE = b"\x01" * 16


WHY_SKIPPED = (
    "py_webauthn is not installed here (the passkeys branch adds it; "
    "`uv pip install webauthn` into the venv for this check)"
)


def _webauthn() -> Any:
    return pytest.importorskip("webauthn", reason=WHY_SKIPPED)


def _lib(module: str) -> Any:
    return pytest.importorskip(f"webauthn.helpers{module}", reason=WHY_SKIPPED)


def _creation_options(webauthn: Any, challenge: bytes) -> dict[str, Any]:
    structs = _lib(".structs")
    options = webauthn.generate_registration_options(
        rp_id=RP_ID,
        rp_name="Bench",
        user_name="someone@example.com",
        user_id=USER_HANDLE,
        challenge=challenge,
        authenticator_selection=structs.AuthenticatorSelectionCriteria(
            resident_key=structs.ResidentKeyRequirement.REQUIRED,
            user_verification=structs.UserVerificationRequirement.REQUIRED,
        ),
    )
    result: dict[str, Any] = _lib("").options_to_json_dict(options)
    return result


def _request_options(webauthn: Any, challenge: bytes) -> dict[str, Any]:
    required = _lib(".structs").UserVerificationRequirement.REQUIRED
    options = webauthn.generate_authentication_options(
        rp_id=RP_ID, challenge=challenge, user_verification=required
    )
    result: dict[str, Any] = _lib("").options_to_json_dict(options)
    return result


def _registered(webauthn: Any, device: PasskeyDevice) -> Any:
    challenge = b"registration-challenge-0123456789"
    credential = device.create(_creation_options(webauthn, challenge))
    return webauthn.verify_registration_response(
        credential=json.dumps(credential),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )


def _verify_assertion(
    webauthn: Any, assertion: dict[str, Any], challenge: bytes, public_key: bytes, count: int = 0
) -> Any:
    return webauthn.verify_authentication_response(
        credential=json.dumps(assertion),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=public_key,
        credential_current_sign_count=count,
        require_user_verification=True,
    )


def test_a_registration_verifies_with_the_device_s_key_and_a_zero_count() -> None:
    webauthn = _webauthn()
    device = PasskeyDevice(ORIGIN)

    verified = _registered(webauthn, device)

    assert verified.credential_id == device.credentials[0].credential_id
    assert verified.sign_count == 0
    assert verified.fmt == "none"
    assert verified.user_verified is True


def test_an_assertion_verifies_against_the_registered_key_and_names_the_user() -> None:
    webauthn = _webauthn()
    device = PasskeyDevice(ORIGIN)
    public_key = _registered(webauthn, device).credential_public_key
    challenge = b"login-challenge-0123456789abcdef"

    assertion = device.get(_request_options(webauthn, challenge))
    verified = _verify_assertion(webauthn, assertion, challenge, public_key)

    assert verified.credential_id == device.credentials[0].credential_id
    assert verified.new_sign_count == 0
    assert from_b64url(assertion["response"]["userHandle"]) == USER_HANDLE


def test_assertions_of_a_synced_passkey_all_verify_in_any_order() -> None:
    webauthn = _webauthn()
    device = PasskeyDevice(ORIGIN)
    public_key = _registered(webauthn, device).credential_public_key
    challenges = [bytes([n]) * 32 for n in range(3)]
    signed = [device.get(_request_options(webauthn, c)) for c in challenges]

    for challenge, assertion in reversed(list(zip(challenges, signed, strict=True))):
        assert _verify_assertion(webauthn, assertion, challenge, public_key).new_sign_count == 0


def test_a_counting_device_increments_its_sign_count() -> None:
    webauthn = _webauthn()
    device = PasskeyDevice(ORIGIN, counting=True)
    public_key = _registered(webauthn, device).credential_public_key

    counts = []
    for n in range(1, 3):
        challenge = bytes([n]) * 32
        assertion = device.get(_request_options(webauthn, challenge))
        counts.append(_verify_assertion(webauthn, assertion, challenge, public_key, n - 1))

    assert [verified.new_sign_count for verified in counts] == [1, 2]


def test_an_assertion_is_refused_for_another_challenge_or_origin() -> None:
    webauthn = _webauthn()
    refused = _lib(".exceptions").InvalidAuthenticationResponse
    device = PasskeyDevice(ORIGIN)
    public_key = _registered(webauthn, device).credential_public_key
    challenge = b"login-challenge-0123456789abcdef"
    assertion = device.get(_request_options(webauthn, challenge))
    elsewhere = PasskeyDevice("https://evil.example")
    elsewhere.credentials = device.credentials

    with pytest.raises(refused):
        _verify_assertion(webauthn, assertion, b"another-challenge-0123456789abcd", public_key)
    other = elsewhere.get(_request_options(webauthn, challenge))
    with pytest.raises(refused):
        _verify_assertion(webauthn, other, challenge, public_key)


def test_a_device_signs_only_for_relying_parties_it_has_a_credential_of() -> None:
    device = PasskeyDevice(ORIGIN)

    with pytest.raises(LookupError):
        device.get({"challenge": "AAAA", "rpId": RP_ID})


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (1000, "1903e8"),
        (1_000_000, "1a000f4240"),
        (-1, "20"),
        (-7, "26"),
        (-1000, "3903e7"),
        (b"\x01\x02", "420102"),
        ("none", "646e6f6e65"),
        ({1: 2, 3: -7}, "a201020326"),
        ({"fmt": "none", "attStmt": {}}, "a263666d74646e6f6e656761747453746d74a0"),
        ([1, "a"], "82016161"),
    ],
)
def test_cbor_matches_rfc_8949_examples(value: Any, encoded: str) -> None:
    assert cbor(value).hex() == encoded
