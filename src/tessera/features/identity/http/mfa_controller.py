"""`/api/v1/auth/mfa/*`: TOTP two-factor sign-in (SPEC §3.13)."""

from __future__ import annotations

from typing import Any

import segno
from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody

from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.application.totp_enrolment import (
    ConfirmTotp,
    DisableTotp,
    GetMfaStatus,
    MfaStatus,
    RecoveryCodes,
    RegenerateRecoveryCodes,
    SetUpTotp,
)
from tessera.features.identity.application.verify_mfa import MfaAttempt, VerifyMfa
from tessera.features.identity.http.wire import (
    DisableTotpBody,
    MfaCodeBody,
    MfaVerifyBody,
    TotpSetupView,
)
from tessera.shared.domain.caller import Principal
from tessera.shared.http.caller import OPEN_DURING_MFA_ENROLMENT
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Success, done, ok
from tessera.shared.http.input_guard import header_text

Caller = FromDishka[Principal]
ENROLMENT = {OPEN_DURING_MFA_ENROLMENT: True}


def qr_code(uri: str) -> str:
    """The URI as a QR code: an SVG image in a `data:` URI."""
    return segno.make(uri, error="m").svg_data_uri(scale=4)


class MfaController(Controller):
    path = "/auth/mfa"
    tags = ("auth",)

    @get("/", summary="Whether TOTP is on, and how many recovery codes remain.", opt=ENROLMENT)
    @inject
    async def status(self, caller: Caller, status: FromDishka[GetMfaStatus]) -> Success[MfaStatus]:
        return ok(await status.execute(caller))

    @post(
        "/totp/setup",
        status_code=200,
        summary="A new TOTP secret, its otpauth:// URI and QR code (pending until confirmed).",
        opt=ENROLMENT,
    )
    @inject
    async def set_up(self, caller: Caller, set_up: FromDishka[SetUpTotp]) -> Success[TotpSetupView]:
        setup = await set_up.execute(caller)
        view = TotpSetupView(setup.secret, setup.otpauth_uri, qr_code(setup.otpauth_uri))
        return ok(view, message="Scan the QR code, then confirm with a code from the app.")

    @post(
        "/totp/confirm",
        status_code=200,
        summary="Turn TOTP on with a code; returns ten recovery codes, shown once.",
        opt=ENROLMENT,
    )
    @inject
    async def confirm(
        self, caller: Caller, data: JSONBody[MfaCodeBody], confirm: FromDishka[ConfirmTotp]
    ) -> Success[RecoveryCodes]:
        codes = await confirm.execute(caller, data.code)
        return ok(codes, message="Two-factor sign-in is on. Keep the recovery codes safe.")

    @delete("/totp", status_code=200, summary="Turn TOTP off (password and a current code).")
    @inject
    async def disable(
        self, caller: Caller, data: JSONBody[DisableTotpBody], disable: FromDishka[DisableTotp]
    ) -> Done:
        await disable.execute(caller, data.password, data.code)
        return done("Two-factor sign-in is off.")

    @post(
        "/recovery-codes",
        status_code=200,
        summary="Replace the recovery codes (a current TOTP code); the old ones stop working.",
    )
    @inject
    async def regenerate(
        self,
        caller: Caller,
        data: JSONBody[MfaCodeBody],
        regenerate: FromDishka[RegenerateRecoveryCodes],
    ) -> Success[RecoveryCodes]:
        return ok(await regenerate.execute(caller, data.code))

    @post(
        "/verify",
        status_code=200,
        summary="Finish a sign-in with its ticket and a TOTP or recovery code: a token pair.",
    )
    @inject
    async def verify(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[MfaVerifyBody],
        verify: FromDishka[VerifyMfa],
        client_ips: FromDishka[ClientIpResolver],
    ) -> Success[TokenPair]:
        peer = request.client.host if request.client else None
        attempt = MfaAttempt(
            data.ticket,
            data.code,
            ip_address=client_ips.resolve(peer, request.headers.get("x-forwarded-for")),
            user_agent=header_text(request.headers.get("user-agent")),
        )
        return ok(await verify.execute(attempt))
