"""`/api/v1/auth/*` (SPEC §3.3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody

from tessera.features.identity.application.accounts import Profile
from tessera.features.identity.application.change_password import ChangePassword
from tessera.features.identity.application.forgot_password import ForgotPassword
from tessera.features.identity.application.list_sessions import ListSessions, SessionView
from tessera.features.identity.application.log_in import Credentials, LogIn, MfaChallenge
from tessera.features.identity.application.log_out import LogOut
from tessera.features.identity.application.log_out_everywhere import LogOutEverywhere
from tessera.features.identity.application.refresh_tokens import RefreshTokens
from tessera.features.identity.application.register_user import (
    NOT_BOTH_TENANT_NAME_AND_INVITATION,
    RegisterUser,
    Registration,
)
from tessera.features.identity.application.request_email_verification import (
    RequestEmailVerification,
)
from tessera.features.identity.application.reset_password import ResetPassword
from tessera.features.identity.application.revoke_session import RevokeSession
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.application.verify_email import VerifyEmail
from tessera.features.identity.http.wire import (
    ChangePasswordBody,
    EmailBody,
    LoginBody,
    RefreshBody,
    ResetBody,
    TokenBody,
)
from tessera.shared.domain.caller import Principal
from tessera.shared.http.caller import OPEN_DURING_MFA_ENROLMENT
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Success, done, ok
from tessera.shared.http.input_guard import header_text

Caller = FromDishka[Principal]
ENROLMENT = {OPEN_DURING_MFA_ENROLMENT: True}  # served to a session that must enrol in MFA


class AuthController(Controller):
    path = "/auth"
    tags = ("auth",)

    @post("/register", status_code=201, summary="Create an account (and its tenant).")
    @inject
    async def register(
        self,
        data: Annotated[
            Registration,
            Body(
                media_type=RequestEncodingType.JSON,
                schema_extra={"not": NOT_BOTH_TENANT_NAME_AND_INVITATION},
            ),
        ],
        register: FromDishka[RegisterUser],
    ) -> Success[Profile]:
        return ok(await register.execute(data), message="Account created.")

    @post(
        "/login",
        status_code=200,
        summary="Sign in: a new session and its token pair, or (two-factor sign-in on) a "
        "ticket for /auth/mfa/verify.",
    )
    @inject
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginBody],
        log_in: FromDishka[LogIn],
        client_ips: FromDishka[ClientIpResolver],
    ) -> Success[TokenPair | MfaChallenge]:
        peer = request.client.host if request.client else None
        client = client_ips.resolve(peer, request.headers.get("x-forwarded-for"))
        credentials = Credentials(
            data.email,
            data.password,
            ip_address=client,
            user_agent=header_text(request.headers.get("user-agent")),
        )
        return ok(await log_in.execute(credentials))

    @post("/refresh", status_code=200, summary="Rotate the refresh token for a new pair.")
    @inject
    async def refresh(
        self, data: JSONBody[RefreshBody], refresh: FromDishka[RefreshTokens]
    ) -> Success[TokenPair]:
        return ok(await refresh.execute(data.refresh_token))

    @post("/logout", status_code=200, summary="End this session.", opt=ENROLMENT)
    @inject
    async def logout(self, caller: Caller, log_out: FromDishka[LogOut]) -> Done:
        await log_out.execute(caller)
        return done("Signed out.")

    @post("/logout-all", status_code=200, summary="End every session of the user.")
    @inject
    async def logout_all(
        self, caller: Caller, log_out: FromDishka[LogOutEverywhere]
    ) -> Success[dict[str, int]]:
        return ok(
            {"sessions_ended": await log_out.execute(caller)}, message="Signed out everywhere."
        )

    @post("/verify-email/request", status_code=202, summary="Email a verification link.")
    @inject
    async def request_verification(
        self, caller: Caller, request_it: FromDishka[RequestEmailVerification]
    ) -> Done:
        await request_it.execute(caller)
        return done("If the address is not verified yet, a link is on its way.")

    @post("/verify-email", status_code=200, summary="Spend a verification token.")
    @inject
    async def verify_email(
        self, data: JSONBody[TokenBody], verify: FromDishka[VerifyEmail]
    ) -> Done:
        await verify.execute(data.token)
        return done("Email verified.")

    @post("/password/forgot", status_code=202, summary="Email a reset link if the account exists.")
    @inject
    async def forgot(self, data: JSONBody[EmailBody], forgot: FromDishka[ForgotPassword]) -> Done:
        await forgot.execute(data.email)
        return done("If an account exists for this address, a reset link is on its way.")

    @post("/password/reset", status_code=200, summary="Set a new password with a reset token.")
    @inject
    async def reset(self, data: JSONBody[ResetBody], reset: FromDishka[ResetPassword]) -> Done:
        await reset.execute(data.token, data.new_password)
        return done("Password reset. Sign in with the new password.")

    @post("/password/change", status_code=200, summary="Change the password; other sessions end.")
    @inject
    async def change(
        self, caller: Caller, data: JSONBody[ChangePasswordBody], change: FromDishka[ChangePassword]
    ) -> Done:
        await change.execute(caller, data.current_password, data.new_password)
        return done("Password changed.")

    @get("/sessions", summary="The user's live sessions.")
    @inject
    async def sessions(
        self, caller: Caller, sessions: FromDishka[ListSessions]
    ) -> Success[list[SessionView]]:
        return ok(await sessions.execute(caller))

    @delete("/sessions/{session_id:uuid}", status_code=200, summary="End one of your sessions.")
    @inject
    async def revoke(
        self, caller: Caller, session_id: FromPath[uuid.UUID], revoke: FromDishka[RevokeSession]
    ) -> Done:
        await revoke.execute(caller, session_id)
        return done("Session ended.")
