"""TOTP two-factor sign-in on fakes (SPEC §3.13): enrolment, the second step of a sign-in,
replays, drift, recovery codes, tickets, the throttle on codes, turning it off, and the
tenant that requires it."""

from __future__ import annotations

import os

import msgspec
import pytest

from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.identity.application.log_in import MfaChallenge
from tessera.features.identity.application.second_factor import TotpSecretUnreadable
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.errors import InvalidCredentials
from tessera.features.identity.domain.mfa import (
    RECOVERY_CODES,
    STEP_SECONDS,
    InvalidMfaCode,
    InvalidMfaTicket,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    NoPendingMfaSetup,
    totp_code,
)
from tessera.features.identity.domain.throttle import FREE_FAILURES, TooManyFailures
from tessera.features.identity.domain.user import User
from tessera.shared.adapters.aes_gcm import TOTP_SECRETS, AesGcmSecretBox
from tessera.shared.domain.errors import Forbidden, InvalidInput
from tests.unit.identity.harness import PASSWORD, Identity


@pytest.fixture
def identity() -> Identity:
    return Identity()


class Enrolled(msgspec.Struct):
    user: User
    secret: str
    recovery_codes: list[str]


async def enrolled(identity: Identity, email: str = "ada@example.com") -> Enrolled:
    """A user who turned TOTP on, then let a step pass (its code was spent confirming)."""
    user = await identity.a_user(email)
    pair = await identity.signed_in(user)
    setup = await identity.set_up_totp().execute(identity.principal(pair))
    code = totp_code(setup.secret, identity.clock.now())
    codes = await identity.confirm_totp().execute(identity.principal(pair), code)
    identity.clock.advance(STEP_SECONDS)
    return Enrolled(user, setup.secret, codes.recovery_codes)


async def challenge(identity: Identity, user: User) -> MfaChallenge:
    answer = await identity.password_step(user)
    assert isinstance(answer, MfaChallenge)
    return answer


def now_code(identity: Identity, secret: str, steps_off: int = 0) -> str:
    return totp_code(secret, identity.clock.now(), steps_off=steps_off)


def wrong_code(identity: Identity, secret: str) -> str:
    """A code of none of the steps within the drift."""
    near = {now_code(identity, secret, off) for off in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def actions(identity: Identity) -> list[AuditAction]:
    return [event.action for event in identity.audit.events]


async def test_enrolment_gives_a_uri_and_ten_recovery_codes_and_turns_it_on(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    caller = identity.principal(await identity.signed_in(user))
    setup = await identity.set_up_totp().execute(caller)
    assert setup.otpauth_uri.startswith("otpauth://totp/Tessera:ada%40example.com?secret=")
    assert setup.secret in setup.otpauth_uri
    assert (await identity.mfa_status().execute(caller)).totp_pending
    stored = identity.mfa.rows.committed()[user.id]
    assert setup.secret not in stored.sealed_secret, "the secret is sealed at rest"

    codes = await identity.confirm_totp().execute(caller, now_code(identity, setup.secret))

    assert len(set(codes.recovery_codes)) == RECOVERY_CODES
    status = await identity.mfa_status().execute(caller)
    assert (status.totp_enabled, status.totp_pending) == (True, False)
    assert status.recovery_codes_left == RECOVERY_CODES
    assert AuditAction.MFA_ENABLED in actions(identity)
    stored_hashes = {code_hash for _, code_hash in identity.mfa.codes.committed()}
    assert not stored_hashes & set(codes.recovery_codes), "only hashes are kept"


async def test_a_second_setup_replaces_the_pending_secret(identity: Identity) -> None:
    user = await identity.a_user()
    caller = identity.principal(await identity.signed_in(user))
    first = await identity.set_up_totp().execute(caller)
    second = await identity.set_up_totp().execute(caller)
    assert first.secret != second.secret
    with pytest.raises(InvalidInput) as wrong:
        await identity.confirm_totp().execute(caller, now_code(identity, first.secret))
    assert wrong.value.field == "code"
    await identity.confirm_totp().execute(caller, now_code(identity, second.secret))


async def test_setup_when_enabled_and_confirm_without_setup_conflict(identity: Identity) -> None:
    done = await enrolled(identity)
    caller = identity.principal(
        await identity.mfa_verified(
            (await challenge(identity, done.user)).ticket, now_code(identity, done.secret)
        )
    )
    with pytest.raises(MfaAlreadyEnabled):
        await identity.set_up_totp().execute(caller)
    other = await identity.a_user("bob@example.com")
    with pytest.raises(NoPendingMfaSetup):
        await identity.confirm_totp().execute(
            identity.principal(await identity.signed_in(other)), "123456"
        )


async def test_with_totp_on_the_password_alone_opens_no_session(identity: Identity) -> None:
    done = await enrolled(identity)
    sessions_before = len(await identity.sessions.list(done.user.id, now=identity.clock.now()))
    audited = len(identity.audit.events)

    answer = await challenge(identity, done.user)

    assert answer.mfa_required
    assert answer.ticket
    assert answer.expires_in == 300
    assert len(await identity.sessions.list(done.user.id, now=identity.clock.now())) == (
        sessions_before
    )
    assert AuditAction.LOGIN_SUCCEEDED not in actions(identity)[audited:]


async def test_a_code_completes_the_sign_in_in_a_session_that_counts_as_mfa(
    identity: Identity,
) -> None:
    done = await enrolled(identity)
    ticket = (await challenge(identity, done.user)).ticket
    pair = await identity.mfa_verified(ticket, now_code(identity, done.secret))
    assert isinstance(pair, TokenPair)
    assert await identity.alive(pair)
    [session] = [
        s
        for s in await identity.sessions.list(done.user.id, now=identity.clock.now())
        if s.session_id == identity.principal(pair).session_id
    ]
    assert session.mfa
    assert not session.needs_mfa_enrolment
    assert actions(identity)[-1] is AuditAction.LOGIN_SUCCEEDED


async def test_the_same_code_is_refused_the_second_time(identity: Identity) -> None:
    done = await enrolled(identity)
    code = now_code(identity, done.secret)
    await identity.mfa_verified((await challenge(identity, done.user)).ticket, code)
    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(InvalidMfaCode):
        await identity.mfa_verified(ticket, code)
    with pytest.raises(InvalidMfaCode):  # nor an older step's code, still within the drift
        await identity.mfa_verified(ticket, now_code(identity, done.secret, -1))
    identity.clock.advance(STEP_SECONDS)
    await identity.mfa_verified(ticket, now_code(identity, done.secret))


@pytest.mark.parametrize("steps_off", [-1, 1])
async def test_one_step_of_drift_is_accepted(identity: Identity, steps_off: int) -> None:
    done = await enrolled(identity)
    identity.clock.advance(STEP_SECONDS)  # the step before is later than the spent one
    ticket = (await challenge(identity, done.user)).ticket
    await identity.mfa_verified(ticket, now_code(identity, done.secret, steps_off))


@pytest.mark.parametrize("steps_off", [-2, 2])
async def test_a_code_two_steps_away_is_refused(identity: Identity, steps_off: int) -> None:
    done = await enrolled(identity)
    identity.clock.advance(3 * STEP_SECONDS)
    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(InvalidMfaCode):
        await identity.mfa_verified(ticket, now_code(identity, done.secret, steps_off))
    failed = identity.audit.events[-1]
    assert failed.action is AuditAction.LOGIN_FAILED
    assert failed.details == {"reason": "wrong_code", "method": "totp"}


async def test_a_recovery_code_signs_in_once_and_alerts_the_user(identity: Identity) -> None:
    done = await enrolled(identity)
    code = done.recovery_codes[0]
    emails = len(identity.outbox.of_type(EMAIL_SEND))
    pair = await identity.mfa_verified(
        (await challenge(identity, done.user)).ticket, code.upper().replace("-", " ")
    )
    assert await identity.alive(pair)
    assert AuditAction.MFA_RECOVERY_CODE_USED in actions(identity)
    sent = [
        (e.payload["template"], e.payload["context"]["event"])
        for e in identity.outbox.of_type(EMAIL_SEND)[emails:]
    ]
    assert ("security_alert", "recovery code used to sign in") in sent
    caller = identity.principal(pair)
    assert (await identity.mfa_status().execute(caller)).recovery_codes_left == RECOVERY_CODES - 1

    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(InvalidMfaCode):
        await identity.mfa_verified(ticket, code)


async def test_a_ticket_signs_in_once(identity: Identity) -> None:
    done = await enrolled(identity)
    ticket = (await challenge(identity, done.user)).ticket
    await identity.mfa_verified(ticket, now_code(identity, done.secret))
    identity.clock.advance(STEP_SECONDS)
    with pytest.raises(InvalidMfaTicket):
        await identity.mfa_verified(ticket, now_code(identity, done.secret))


async def test_a_wrong_code_leaves_the_ticket_usable(identity: Identity) -> None:
    done = await enrolled(identity)
    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(InvalidMfaCode):
        await identity.mfa_verified(ticket, wrong_code(identity, done.secret))
    assert await identity.alive(
        await identity.mfa_verified(ticket, now_code(identity, done.secret))
    )


async def test_a_ticket_expires_after_five_minutes(identity: Identity) -> None:
    done = await enrolled(identity)
    ticket = (await challenge(identity, done.user)).ticket
    identity.clock.advance(301)
    with pytest.raises(InvalidMfaTicket):
        await identity.mfa_verified(ticket, now_code(identity, done.secret))


async def test_wrong_codes_are_throttled_per_account(identity: Identity) -> None:
    done = await enrolled(identity)
    right, wrong = now_code(identity, done.secret), wrong_code(identity, done.secret)
    ticket = (await challenge(identity, done.user)).ticket
    for _ in range(FREE_FAILURES):
        with pytest.raises(InvalidMfaCode):
            await identity.mfa_verified(ticket, wrong)
    with pytest.raises(TooManyFailures):
        await identity.mfa_verified(ticket, right)
    with pytest.raises(TooManyFailures):  # a new ticket does not reset the count
        await challenge(identity, done.user)


async def test_turning_totp_off_needs_the_password_and_a_code(identity: Identity) -> None:
    done = await enrolled(identity)
    pair = await identity.mfa_verified(
        (await challenge(identity, done.user)).ticket, now_code(identity, done.secret)
    )
    caller = identity.principal(pair)
    identity.clock.advance(STEP_SECONDS)
    with pytest.raises(InvalidCredentials):
        await identity.disable_totp().execute(
            caller, "not the password", now_code(identity, done.secret)
        )
    with pytest.raises(InvalidMfaCode):
        await identity.disable_totp().execute(caller, PASSWORD, "12345x")
    assert (await identity.mfa_status().execute(caller)).totp_enabled

    await identity.disable_totp().execute(caller, PASSWORD, now_code(identity, done.secret))

    assert not (await identity.mfa_status().execute(caller)).totp_enabled
    assert AuditAction.MFA_DISABLED in actions(identity)
    templates = [e.payload["template"] for e in identity.outbox.of_type(EMAIL_SEND)]
    assert templates[-1] == "security_alert"
    assert isinstance(await identity.password_step(done.user), TokenPair)
    with pytest.raises(MfaNotEnabled):
        await identity.disable_totp().execute(caller, PASSWORD, "123456")


async def test_new_recovery_codes_replace_the_old_ones(identity: Identity) -> None:
    done = await enrolled(identity)
    pair = await identity.mfa_verified(
        (await challenge(identity, done.user)).ticket, done.recovery_codes[0]
    )
    caller = identity.principal(pair)
    fresh = await identity.regenerate_codes().execute(caller, now_code(identity, done.secret))
    assert (await identity.mfa_status().execute(caller)).recovery_codes_left == RECOVERY_CODES
    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(InvalidMfaCode):
        await identity.mfa_verified(ticket, done.recovery_codes[1])
    await identity.mfa_verified(ticket, fresh.recovery_codes[0])


async def test_a_tenant_requiring_mfa_marks_sessions_until_the_user_enrols(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    await identity.tenants.create(tenant_id=user.tenant_id, name="Acme")
    acme = await identity.tenant_rows.get(user.tenant_id)
    assert acme is not None
    acme.require_mfa(True, now=identity.clock.now())
    await identity.tenant_rows.save(acme)
    await identity.unit_of_work.commit()

    pair = await identity.signed_in(user)
    touched = await identity.sessions.touch(
        user.id, identity.principal(pair).session_id, now=identity.clock.now(), idle_seconds=60
    )
    assert touched is not None
    assert touched.caller.needs_mfa_enrolment

    caller = identity.principal(pair)
    setup = await identity.set_up_totp().execute(caller)
    await identity.confirm_totp().execute(caller, now_code(identity, setup.secret))

    touched = await identity.sessions.touch(
        user.id, caller.session_id, now=identity.clock.now(), idle_seconds=60
    )
    assert touched is not None
    assert not touched.caller.needs_mfa_enrolment
    with pytest.raises(Forbidden):  # and it cannot be turned off while the tenant requires it
        await identity.disable_totp().execute(caller, PASSWORD, "123456")


async def test_a_secret_sealed_with_another_key_is_a_503_and_recovery_codes_still_work(
    identity: Identity,
) -> None:
    done = await enrolled(identity)
    identity.box = AesGcmSecretBox(os.urandom(32), purpose=TOTP_SECRETS)  # the key changed
    ticket = (await challenge(identity, done.user)).ticket
    with pytest.raises(TotpSecretUnreadable):
        await identity.mfa_verified(ticket, now_code(identity, done.secret))
    assert await identity.alive(await identity.mfa_verified(ticket, done.recovery_codes[0]))
