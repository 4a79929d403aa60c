"""`LogIn` on fakes (SPEC §3.3 `POST /auth/login`, §3.13): one answer for every bad
credential, the per-account throttle, who may sign in, hash upgrades, new-device alerts and
the session cap."""

from __future__ import annotations

import pytest

from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.identity.application.accounts import USER_SECURITY_ALERT
from tessera.features.identity.application.log_in import Credentials
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.errors import (
    AccountInactive,
    EmailNotVerified,
    InvalidCredentials,
)
from tessera.features.identity.domain.throttle import FREE_FAILURES, TooManyFailures
from tests.fakes.identity import FakePasswordHasher
from tests.unit.identity.harness import PASSWORD, Identity, config


@pytest.fixture
def identity() -> Identity:
    return Identity()


def wrong(email: str = "ada@example.com") -> Credentials:
    return Credentials(email, "not the password")


async def test_a_sign_in_opens_a_live_session_for_the_user(identity: Identity) -> None:
    user = await identity.a_user()
    pair = await identity.signed_in(user)
    principal = identity.principal(pair)
    assert (principal.user_id, principal.tenant_id, principal.role) == (
        user.id,
        user.tenant_id,
        user.role,
    )
    assert await identity.alive(pair)
    assert pair.expires_in == identity.config.access_ttl_seconds
    refreshed = identity.tokens.verify(pair.refresh_token, expected_type="refresh")
    assert refreshed.session_id == principal.session_id


async def test_the_email_is_matched_whatever_its_case_and_spaces(identity: Identity) -> None:
    await identity.a_user("ada@example.com")
    pair = await identity.log_in().execute(Credentials("  ADA@Example.com ", PASSWORD))
    assert isinstance(pair, TokenPair)
    assert await identity.alive(pair)


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("ada@example.com", "not the password"),
        Credentials("nobody@example.com", PASSWORD),
        Credentials("not an email", PASSWORD),
    ],
    ids=["wrong password", "unknown email", "malformed email"],
)
async def test_every_bad_credential_is_the_same_answer_after_one_verification(
    identity: Identity, credentials: Credentials
) -> None:
    user = await identity.a_user()
    before = identity.hasher.verifications
    with pytest.raises(InvalidCredentials) as refused:
        await identity.log_in().execute(credentials)
    assert str(refused.value) == str(InvalidCredentials())
    assert identity.hasher.verifications == before + 1, "no timing oracle"
    assert await identity.sessions.list(user.id, now=identity.clock.now()) == []


async def test_a_deleted_account_cannot_sign_in(identity: Identity) -> None:
    user = await identity.a_user()
    user.soft_delete(identity.clock.now())
    await identity.users.save(user)
    await identity.unit_of_work.commit()
    with pytest.raises(InvalidCredentials):
        await identity.signed_in(user)


async def test_an_inactive_account_is_refused_only_once_the_password_is_proven(
    identity: Identity,
) -> None:
    user = await identity.a_user(active=False)
    with pytest.raises(InvalidCredentials):
        await identity.log_in().execute(wrong())
    with pytest.raises(AccountInactive):
        await identity.signed_in(user)


async def test_an_unverified_account_signs_in_unless_verification_is_required() -> None:
    relaxed = Identity()
    await relaxed.signed_in(await relaxed.a_user(verified=False))
    strict = Identity(config=config(require_verified_email=True))
    user = await strict.a_user(verified=False)
    with pytest.raises(EmailNotVerified):
        await strict.signed_in(user)
    assert await strict.sessions.list(user.id, now=strict.clock.now()) == []


async def test_failures_past_the_free_ones_make_the_next_attempt_wait(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    for _ in range(FREE_FAILURES):
        with pytest.raises(InvalidCredentials):
            await identity.log_in().execute(wrong())
    with pytest.raises(TooManyFailures) as waiting:
        await identity.signed_in(user)  # even the right password waits
    assert waiting.value.retry_after == 1
    identity.clock.advance(1)
    await identity.signed_in(user)


async def test_the_wait_grows_with_each_failure_and_a_success_resets_it(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    for _ in range(FREE_FAILURES):
        with pytest.raises(InvalidCredentials):
            await identity.log_in().execute(wrong())
    waits = []
    for _ in range(3):
        with pytest.raises(TooManyFailures) as waiting:
            await identity.log_in().execute(wrong())
        waits.append(waiting.value.retry_after)
        identity.clock.advance(waiting.value.retry_after)
        with pytest.raises(InvalidCredentials):  # after the wait, one more failure
            await identity.log_in().execute(wrong())
    assert waits == [1, 2, 4]
    identity.clock.advance(8)
    await identity.signed_in(user)
    for _ in range(FREE_FAILURES):  # counted from zero again: no wait before the sixth
        with pytest.raises(InvalidCredentials):
            await identity.log_in().execute(wrong())


async def test_unknown_emails_are_throttled_too(identity: Identity) -> None:
    for _ in range(FREE_FAILURES):
        with pytest.raises(InvalidCredentials):
            await identity.log_in().execute(wrong("nobody@example.com"))
    with pytest.raises(TooManyFailures):
        await identity.log_in().execute(wrong("nobody@example.com"))
    await identity.signed_in(await identity.a_user())  # another account is not held up


async def test_a_hash_with_old_parameters_is_upgraded_on_success(identity: Identity) -> None:
    user = await identity.a_user()
    identity.hasher.cost = 3  # the service now hashes with stronger parameters
    assert identity.hasher.needs_rehash(identity.stored(user).password_hash)
    await identity.signed_in(user)
    upgraded = identity.stored(user).password_hash
    assert not identity.hasher.needs_rehash(upgraded)
    assert await FakePasswordHasher(cost=3).verify(upgraded, PASSWORD)


async def test_a_new_device_is_alerted_a_known_one_is_not(identity: Identity) -> None:
    user = await identity.a_user()
    await identity.signed_in(user, ip_address="203.0.113.7", user_agent="Firefox")
    [alert] = identity.outbox.of_type(USER_SECURITY_ALERT)
    assert alert.payload["event"] == "new sign-in"
    assert alert.payload["user_id"] == str(user.id)
    assert "ada@example.com" not in str(alert.payload), "no address in the event"
    [email] = identity.outbox.of_type(EMAIL_SEND)
    assert email.payload["template"] == "security_alert"
    assert email.payload["to"] == "ada@example.com"
    assert email.payload["context"]["ip_address"] == "203.0.113.7"

    await identity.signed_in(user, ip_address="203.0.113.7", user_agent="Firefox")
    assert len(identity.outbox.of_type(USER_SECURITY_ALERT)) == 1, "the device is known"
    await identity.signed_in(user, ip_address="198.51.100.1", user_agent="Firefox")
    assert len(identity.outbox.of_type(USER_SECURITY_ALERT)) == 2, "another address"


async def test_a_device_not_seen_within_the_memory_is_new_again(identity: Identity) -> None:
    user = await identity.a_user()
    await identity.signed_in(user)
    identity.clock.advance(identity.config.known_device_seconds + 1)
    await identity.signed_in(user)
    assert len(identity.outbox.of_type(USER_SECURITY_ALERT)) == 2


async def test_past_the_session_cap_the_oldest_sessions_end() -> None:
    identity = Identity(config=config(sessions_per_user_max=2))
    user = await identity.a_user()
    first = await identity.signed_in(user)
    identity.clock.advance(1)
    second = await identity.signed_in(user)
    identity.clock.advance(1)
    third = await identity.signed_in(user)
    assert [await identity.alive(p) for p in (first, second, third)] == [False, True, True]


async def test_sign_ins_are_audited_a_wrong_password_with_its_reason(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    with pytest.raises(InvalidCredentials):
        await identity.log_in().execute(wrong())
    with pytest.raises(InvalidCredentials):
        await identity.log_in().execute(wrong("nobody@example.com"))  # no account to audit
    await identity.signed_in(user)
    rows = identity.audit.events
    assert [row.action for row in rows] == [AuditAction.LOGIN_FAILED, AuditAction.LOGIN_SUCCEEDED]
    assert {(row.target_id, row.tenant_id) for row in rows} == {(user.id, user.tenant_id)}
    assert rows[0].actor_id is None
    assert rows[0].details == {"reason": "wrong_password", "method": "password"}
    assert rows[1].actor_id == user.id
