"""`ChangePassword` on fakes (SPEC §3.3 `POST /auth/password/change`): the current password
is proven, the policy holds, other sessions end and this one stays, the owner is told."""

from __future__ import annotations

import pytest

from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.identity.application.accounts import USER_SECURITY_ALERT, profile_key
from tessera.features.identity.domain.errors import InvalidCredentials, InvalidToken, WeakPassword
from tessera.shared.domain.errors import InvalidInput
from tests.fakes.unit_of_work import CommitFailed
from tests.unit.identity.harness import NEW_PASSWORD, PASSWORD, Identity


@pytest.fixture
def identity() -> Identity:
    return Identity()


async def test_the_new_password_works_and_only_the_callers_session_stays(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user, user_agent="Firefox")
    elsewhere = await identity.signed_in(user, user_agent="Safari")
    await identity.cache.set(profile_key(user.id), b"cached profile", ttl_seconds=300)
    await identity.change_password().execute(identity.principal(here), PASSWORD, NEW_PASSWORD)
    stored = identity.stored(user)
    assert await identity.hasher.verify(stored.password_hash, NEW_PASSWORD)
    assert not await identity.hasher.verify(stored.password_hash, PASSWORD)
    assert await identity.alive(here)
    assert not await identity.alive(elsewhere)
    assert await identity.cache.get(profile_key(user.id)) is None


async def test_the_owner_gets_an_alert_email_and_event(identity: Identity) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user)
    await identity.change_password().execute(identity.principal(here), PASSWORD, NEW_PASSWORD)
    [alert] = [
        e
        for e in identity.outbox.of_type(USER_SECURITY_ALERT)
        if e.payload["event"] == "password changed"
    ]
    assert alert.payload["user_id"] == str(user.id)
    emails = [e.payload for e in identity.outbox.of_type(EMAIL_SEND)]
    assert emails[-1]["template"] == "security_alert"
    assert emails[-1]["context"]["event"] == "password changed"
    assert emails[-1]["to"] == user.email
    [row] = [r for r in identity.audit.events if r.action is AuditAction.PASSWORD_CHANGED]
    assert (row.actor_id, row.target_id) == (user.id, user.id)


async def test_a_wrong_current_password_changes_nothing(identity: Identity) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user, user_agent="Firefox")
    elsewhere = await identity.signed_in(user, user_agent="Safari")
    events = len(identity.outbox.events)
    with pytest.raises(InvalidCredentials):
        await identity.change_password().execute(identity.principal(here), "wrong", NEW_PASSWORD)
    assert await identity.hasher.verify(identity.stored(user).password_hash, PASSWORD)
    assert await identity.alive(elsewhere)
    assert len(identity.outbox.events) == events


@pytest.mark.parametrize(
    ("new_password", "error"),
    [(PASSWORD, InvalidInput), ("short", WeakPassword), ("ada@example.com", WeakPassword)],
    ids=["unchanged", "too short", "the email"],
)
async def test_a_refused_new_password_changes_nothing(
    identity: Identity, new_password: str, error: type[Exception]
) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user, user_agent="Firefox")
    elsewhere = await identity.signed_in(user, user_agent="Safari")
    with pytest.raises(error):
        await identity.change_password().execute(identity.principal(here), PASSWORD, new_password)
    await identity.unit_of_work.rollback()  # the request ends
    assert await identity.hasher.verify(identity.stored(user).password_hash, PASSWORD)
    assert await identity.alive(elsewhere)


async def test_sessions_end_only_once_the_change_is_committed(identity: Identity) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user, user_agent="Firefox")
    elsewhere = await identity.signed_in(user, user_agent="Safari")
    identity.unit_of_work.fail_next_commit = True
    with pytest.raises(CommitFailed):
        await identity.change_password().execute(identity.principal(here), PASSWORD, NEW_PASSWORD)
    assert await identity.hasher.verify(identity.stored(user).password_hash, PASSWORD)
    assert await identity.alive(elsewhere)
    assert identity.outbox.of_type("user.security_alert")[-1].payload["event"] == "new sign-in"


async def test_a_deactivated_account_cannot_change_its_password(identity: Identity) -> None:
    user = await identity.a_user()
    here = await identity.signed_in(user)
    user.set_active(False, identity.clock.now())
    await identity.users.save(user)
    await identity.unit_of_work.commit()
    with pytest.raises(InvalidToken):
        await identity.change_password().execute(identity.principal(here), PASSWORD, NEW_PASSWORD)
