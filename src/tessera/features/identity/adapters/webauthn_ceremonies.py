"""`PasskeyCeremonies` on py_webauthn (`webauthn`), through its public API."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tessera.features.identity.application.ports import AssertionCheck, NewCredential
from tessera.features.identity.domain.passkeys import InvalidPasskeyRegistration, PasskeyRejected

logger = logging.getLogger("tessera.security")

_NO_AAGUID = "00000000-0000-0000-0000-000000000000"


class WebAuthnCeremonies:
    """For one relying party: `rp_id` (a host name), `rp_name` (shown by the browser) and
    the exact origins (`scheme://host[:port]`) a ceremony may come from.

    Whatever the library refuses, and whatever malformed input makes it raise (a missing
    key, a wrong type, bad base64 or CBOR), is the domain's refusal, never a 500: a
    credential comes straight from the client. The sign counter is left to the use case
    (`looks_cloned`), which judges it only after the signature verified."""

    def __init__(self, *, rp_id: str, rp_name: str, origins: Sequence[str]) -> None:
        self._rp_id, self._rp_name, self._origins = rp_id, rp_name, list(origins)

    def creation_options(
        self,
        *,
        challenge: bytes,
        user_handle: bytes,
        user_name: str,
        display_name: str,
        exclude: Sequence[bytes],
        timeout_ms: int,
    ) -> dict[str, Any]:
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_name=user_name,
            user_id=user_handle,
            user_display_name=display_name,
            challenge=challenge,
            timeout=timeout_ms,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in exclude],
        )
        return options_to_json_dict(options)

    def verify_registration(
        self, credential: Mapping[str, Any], *, challenge: bytes
    ) -> NewCredential:
        try:
            parsed = parse_registration_credential_json(dict(credential))
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                require_user_verification=True,
            )
        except Exception as refused:
            logger.info("passkey registration refused", extra={"reason": str(refused)[:200]})
            raise InvalidPasskeyRegistration(field="credential") from None
        transports = tuple(t.value for t in parsed.response.transports or ())
        return NewCredential(
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
            aaguid=None if verified.aaguid in ("", _NO_AAGUID) else verified.aaguid,
        )

    def request_options(self, *, challenge: bytes, timeout_ms: int) -> dict[str, Any]:
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=timeout_ms,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_to_json_dict(options)

    def credential_id(self, credential: Mapping[str, Any]) -> bytes:
        try:
            return parse_authentication_credential_json(dict(credential)).raw_id
        except Exception:
            raise PasskeyRejected() from None

    def verify_assertion(
        self,
        credential: Mapping[str, Any],
        *,
        challenge: bytes,
        public_key: bytes,
        user_handle: bytes,
    ) -> AssertionCheck:
        try:
            parsed = parse_authentication_credential_json(dict(credential))
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                credential_public_key=public_key,
                credential_current_sign_count=0,  # judged by the use case, after this
                require_user_verification=True,
            )
        except Exception as refused:
            logger.info("passkey assertion refused", extra={"reason": str(refused)[:200]})
            raise PasskeyRejected() from None
        presented = parsed.response.user_handle
        if presented is not None and presented != user_handle:
            raise PasskeyRejected()
        return AssertionCheck(verified.credential_id, verified.new_sign_count)
