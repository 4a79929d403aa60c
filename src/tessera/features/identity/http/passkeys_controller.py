"""`/api/v1/auth/passkeys/*` (SPEC §3.13): register, list and remove passkeys, and sign
in with one."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from tessera.features.identity.application.passkey_login import (
    Assertion,
    PasskeyLogIn,
    StartPasskeyLogIn,
)
from tessera.features.identity.application.passkeys import (
    CeremonyOptions,
    FinishPasskeyRegistration,
    ListPasskeys,
    NewPasskey,
    PasskeyView,
    RemovePasskey,
    StartPasskeyRegistration,
)
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.http.wire import PasskeyLoginBody, PasskeyRegistrationBody
from tessera.shared.domain.caller import Principal
from tessera.shared.http.client_ip import ClientIpResolver
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import Done, Success, done, ok
from tessera.shared.http.input_guard import header_text

Caller = FromDishka[Principal]


class PasskeysController(Controller):
    path = "/auth/passkeys"
    tags = ("auth",)

    @post("/register/options", status_code=200, summary="Options to create a passkey.")
    @inject
    async def register_options(
        self, caller: Caller, start: FromDishka[StartPasskeyRegistration]
    ) -> Success[CeremonyOptions]:
        return ok(await start.execute(caller))

    @post("/register/verify", status_code=201, summary="Store the passkey the browser created.")
    @inject
    async def register_verify(
        self,
        caller: Caller,
        data: JSONBody[PasskeyRegistrationBody],
        finish: FromDishka[FinishPasskeyRegistration],
    ) -> Success[PasskeyView]:
        new = NewPasskey(data.challenge_id, msgspec.to_builtins(data.credential), data.name)
        return ok(await finish.execute(caller, new), message="Passkey added.")

    @get("/", summary="The caller's passkeys.")
    @inject
    async def list_passkeys(
        self, caller: Caller, passkeys: FromDishka[ListPasskeys]
    ) -> Success[list[PasskeyView]]:
        return ok(await passkeys.execute(caller))

    @delete("/{passkey_id:uuid}", status_code=200, summary="Remove one of your passkeys.")
    @inject
    async def remove(
        self, caller: Caller, passkey_id: FromPath[uuid.UUID], remove: FromDishka[RemovePasskey]
    ) -> Done:
        await remove.execute(caller, passkey_id)
        return done("Passkey removed.")

    @post("/login/options", status_code=200, summary="Options to sign in with a passkey.")
    @inject
    async def login_options(self, start: FromDishka[StartPasskeyLogIn]) -> Success[CeremonyOptions]:
        return ok(await start.execute())

    @post("/login/verify", status_code=200, summary="Sign in with a passkey: a token pair.")
    @inject
    async def login_verify(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasskeyLoginBody],
        log_in: FromDishka[PasskeyLogIn],
        client_ips: FromDishka[ClientIpResolver],
    ) -> Success[TokenPair]:
        peer = request.client.host if request.client else None
        assertion = Assertion(
            data.challenge_id,
            msgspec.to_builtins(data.credential),
            ip_address=client_ips.resolve(peer, request.headers.get("x-forwarded-for")),
            user_agent=header_text(request.headers.get("user-agent")),
        )
        return ok(await log_in.execute(assertion))
