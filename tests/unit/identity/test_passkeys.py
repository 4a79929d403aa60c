"""Passkey use cases on fakes, with the real py_webauthn adapter and a software
authenticator: registration and sign-in end to end, challenges that expire after 5 minutes
and serve one ceremony, the audit rows, the counter rule."""

from __future__ import annotations

import uuid

import pytest

from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.adapters.challenges import InMemoryChallengeStore
from tessera.features.identity.adapters.webauthn_ceremonies import WebAuthnCeremonies
from tessera.features.identity.application.passkey_login import (
    Assertion,
    PasskeyLogIn,
    StartPasskeyLogIn,
)
from tessera.features.identity.application.passkeys import (
    CHALLENGE_SECONDS,
    FinishPasskeyRegistration,
    NewPasskey,
    PasskeyView,
    RemovePasskey,
    StartPasskeyRegistration,
)
from tessera.features.identity.domain.passkeys import (
    ChallengeNotFound,
    PasskeyNotFound,
    PasskeyRejected,
)
from tessera.features.identity.domain.user import User
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tests.fakes.identity import FakePasskeyRepository
from tests.soft_authenticator import SoftAuthenticator
from tests.unit.identity.harness import BASE_URL, Identity


class Passkeys:
    """The passkey use cases over one `Identity`."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.passkeys = FakePasskeyRepository(identity.unit_of_work)
        self.challenges = InMemoryChallengeStore(monotonic=identity.clock.monotonic)
        self.ceremonies = WebAuthnCeremonies(
            rp_id="app.example", rp_name="Tessera", origins=[BASE_URL]
        )

    async def register(self, user: User, authenticator: SoftAuthenticator) -> PasskeyView:
        caller = Principal(user.id, user.tenant_id, user.role, uuid.uuid4())
        start = StartPasskeyRegistration(
            self.identity.users, self.passkeys, self.challenges, self.ceremonies
        )
        options = await start.execute(caller)
        credential = authenticator.create(options.options)
        return await self.finish(caller).execute(
            caller, NewPasskey(options.challenge_id, credential)
        )

    def finish(self, caller: Principal) -> FinishPasskeyRegistration:
        i = self.identity
        return FinishPasskeyRegistration(
            self.passkeys, self.challenges, self.ceremonies, i.audit, i.unit_of_work, i.clock
        )

    async def options(self) -> tuple[uuid.UUID, dict[str, object]]:
        started = await StartPasskeyLogIn(self.challenges, self.ceremonies).execute()
        return started.challenge_id, started.options

    def log_in(self) -> PasskeyLogIn:
        i = self.identity
        return PasskeyLogIn(
            i.users,
            self.passkeys,
            self.challenges,
            self.ceremonies,
            i.sessions,
            i.tokens,
            i.outbox,
            i.unit_of_work,
            i.clock,
            i.config,
            TenantScope(),
            i.audit,
        )

    async def sign_in(self, authenticator: SoftAuthenticator) -> Assertion:
        challenge_id, options = await self.options()
        return Assertion(challenge_id, authenticator.get(options), ip_address="198.51.100.2")


@pytest.fixture
def identity() -> Identity:
    return Identity()


async def test_a_registered_passkey_signs_in_to_a_live_session_audited_as_passkey(
    identity: Identity,
) -> None:
    keys = Passkeys(identity)
    user = await identity.a_user()
    authenticator = SoftAuthenticator(BASE_URL)
    view = await keys.register(user, authenticator)
    assert (view.name, view.transports, view.sign_count) == ("Passkey 1", ["internal"], 0)

    pair = await keys.log_in().execute(await keys.sign_in(authenticator))
    assert await identity.alive(pair)
    assert identity.principal(pair).user_id == user.id
    [stored] = await keys.passkeys.of_user(user.id)
    assert (stored.sign_count, stored.last_used_at) == (1, identity.clock.now())
    actions = [(e.action, e.details) for e in identity.audit.events]
    assert actions == [
        (AuditAction.PASSKEY_ADDED, {"name": "Passkey 1"}),
        (AuditAction.LOGIN_SUCCEEDED, {"method": "passkey"}),
    ]


async def test_a_sign_in_challenge_expires_after_five_minutes(identity: Identity) -> None:
    keys = Passkeys(identity)
    authenticator = SoftAuthenticator(BASE_URL)
    await keys.register(await identity.a_user(), authenticator)
    assertion = await keys.sign_in(authenticator)
    identity.clock.advance(CHALLENGE_SECONDS + 1)
    with pytest.raises(ChallengeNotFound):
        await keys.log_in().execute(assertion)


async def test_a_registration_challenge_expires_and_serves_one_attempt(
    identity: Identity,
) -> None:
    keys = Passkeys(identity)
    user = await identity.a_user()
    caller = Principal(user.id, user.tenant_id, user.role, uuid.uuid4())
    start = StartPasskeyRegistration(
        identity.users, keys.passkeys, keys.challenges, keys.ceremonies
    )
    late = await start.execute(caller)
    identity.clock.advance(CHALLENGE_SECONDS + 1)
    credential = SoftAuthenticator(BASE_URL).create(late.options)
    with pytest.raises(ChallengeNotFound):
        await keys.finish(caller).execute(caller, NewPasskey(late.challenge_id, credential))
    options = await start.execute(caller)
    credential = SoftAuthenticator(BASE_URL).create(options.options)
    await keys.finish(caller).execute(caller, NewPasskey(options.challenge_id, credential))
    with pytest.raises(ChallengeNotFound):
        await keys.finish(caller).execute(caller, NewPasskey(options.challenge_id, credential))


async def test_a_clone_is_refused_audited_and_leaves_the_counter_as_it_was(
    identity: Identity,
) -> None:
    keys = Passkeys(identity)
    user = await identity.a_user()
    authenticator = SoftAuthenticator(BASE_URL, sign_count=10)
    await keys.register(user, authenticator)
    await keys.log_in().execute(await keys.sign_in(authenticator))  # count 11
    authenticator.sign_count = 9  # the copy: its next signature says 10
    with pytest.raises(PasskeyRejected):
        await keys.log_in().execute(await keys.sign_in(authenticator))
    [stored] = await keys.passkeys.of_user(user.id)
    assert stored.sign_count == 11
    failed = [e for e in identity.audit.events if e.action == AuditAction.LOGIN_FAILED]
    assert [(e.target_id, e.details) for e in failed] == [
        (user.id, {"reason": "sign_count", "method": "passkey"})
    ]


async def test_a_passkey_that_keeps_its_count_at_zero_signs_in_in_any_order(
    identity: Identity,
) -> None:
    keys = Passkeys(identity)
    user = await identity.a_user()
    authenticator = SoftAuthenticator(BASE_URL, counting=False)  # a synced passkey
    await keys.register(user, authenticator)
    signed = [await keys.sign_in(authenticator) for _ in range(3)]
    for assertion in reversed(signed):
        pair = await keys.log_in().execute(assertion)
        assert identity.principal(pair).user_id == user.id
    [stored] = await keys.passkeys.of_user(user.id)
    assert stored.sign_count == 0


async def test_an_assertion_from_another_origin_is_refused_without_an_audit_row(
    identity: Identity,
) -> None:
    keys = Passkeys(identity)
    authenticator = SoftAuthenticator(BASE_URL)
    await keys.register(await identity.a_user(), authenticator)
    challenge_id, options = await keys.options()
    forged = Assertion(challenge_id, authenticator.get(options, origin="https://evil.example"))
    with pytest.raises(PasskeyRejected):
        await keys.log_in().execute(forged)
    assert [e.action for e in identity.audit.events] == [AuditAction.PASSKEY_ADDED]


async def test_only_the_owner_removes_a_passkey(identity: Identity) -> None:
    keys = Passkeys(identity)
    ada, bob = await identity.a_user(), await identity.a_user("bob@example.com")
    view = await keys.register(ada, SoftAuthenticator(BASE_URL))
    remove = RemovePasskey(keys.passkeys, identity.audit, identity.unit_of_work)
    with pytest.raises(PasskeyNotFound):
        await remove.execute(Principal(bob.id, bob.tenant_id, bob.role, uuid.uuid4()), view.id)
    await remove.execute(Principal(ada.id, ada.tenant_id, ada.role, uuid.uuid4()), view.id)
    assert await keys.passkeys.of_user(ada.id) == []
    assert identity.audit.events[-1].action == AuditAction.PASSKEY_REMOVED
