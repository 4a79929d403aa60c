"""`ForgotPassword` and `ResetPassword` on fakes (SPEC §3.3 `POST /auth/password/forgot` and
`/reset`): no enumeration, a single-use link that expires, every session ending, never a
sign-in, and the per-account ceiling."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tessera.features.audit.domain.event import AuditAction
from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.identity.application.accounts import PASSWORD_RESET, USER_SECURITY_ALERT
from tessera.features.identity.application.log_in import Credentials
from tessera.features.identity.domain.errors import InvalidLinkToken, WeakPassword
from tests.unit.identity.harness import BASE_URL, NEW_PASSWORD, PASSWORD, Identity


@pytest.fixture
def identity() -> Identity:
    return Identity()


def reset_links(identity: Identity) -> list[str]:
    return [
        event.payload["context"]["link"]
        for event in identity.outbox.of_type(EMAIL_SEND)
        if event.payload["template"] == PASSWORD_RESET
    ]


def token_of(link: str) -> str:
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, "never a host from the request"
    return parse_qs(parts.query)["token"][0]


async def a_reset_token(identity: Identity, email: str = "ada@example.com") -> str:
    await identity.forgot_password().execute(email)
    return token_of(reset_links(identity)[-1])


async def test_a_known_account_gets_a_link_to_the_reset_page(identity: Identity) -> None:
    user = await identity.a_user()
    await identity.forgot_password().execute("  ADA@example.com")
    [email] = identity.outbox.of_type(EMAIL_SEND)
    assert email.payload["to"] == user.email
    assert email.payload["context"]["link"].startswith(f"{BASE_URL}/reset-password?token=")
    assert email.payload["context"]["expires_minutes"] == 30
    assert len(token_of(email.payload["context"]["link"])) >= 22, "at least 128 bits"


@pytest.mark.parametrize("active", [False, None], ids=["inactive", "unknown"])
async def test_an_unknown_or_inactive_account_gets_nothing_and_the_same_answer(
    identity: Identity, active: bool | None
) -> None:
    if active is not None:
        await identity.a_user(active=active)
    await identity.forgot_password().execute("ada@example.com")  # answers nothing either way
    assert identity.outbox.of_type(EMAIL_SEND) == []


async def test_the_reset_sets_the_password_ends_every_session_and_signs_nobody_in(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    sessions = [await identity.signed_in(user, user_agent=agent) for agent in ("A", "B")]
    token = await a_reset_token(identity)
    await identity.reset_password().execute(token, NEW_PASSWORD)
    assert await identity.hasher.verify(identity.stored(user).password_hash, NEW_PASSWORD)
    assert [await identity.alive(pair) for pair in sessions] == [False, False]
    assert await identity.sessions.list(user.id, now=identity.clock.now()) == []
    alerts = identity.outbox.of_type(USER_SECURITY_ALERT)
    assert alerts[-1].payload["event"] == "password changed"
    [row] = [r for r in identity.audit.events if r.action is AuditAction.PASSWORD_RESET]
    assert (row.actor_id, row.target_id) == (None, user.id), "nobody signed in did it"


async def test_a_reset_forgets_the_devices_so_the_next_sign_in_is_reported(
    identity: Identity,
) -> None:
    user = await identity.a_user()
    await identity.signed_in(user)
    await identity.reset_password().execute(await a_reset_token(identity), NEW_PASSWORD)
    before = len(identity.outbox.of_type(USER_SECURITY_ALERT))
    credentials = Credentials(
        user.email, NEW_PASSWORD, ip_address="203.0.113.7", user_agent="Firefox"
    )
    await identity.log_in().execute(credentials)
    assert len(identity.outbox.of_type(USER_SECURITY_ALERT)) == before + 1


async def test_a_link_works_once(identity: Identity) -> None:
    await identity.a_user()
    token = await a_reset_token(identity)
    await identity.reset_password().execute(token, NEW_PASSWORD)
    with pytest.raises(InvalidLinkToken):
        await identity.reset_password().execute(token, "yet another passphrase")


async def test_a_link_expires_after_thirty_minutes(identity: Identity) -> None:
    user = await identity.a_user()
    token = await a_reset_token(identity)
    identity.clock.advance(30 * 60)
    with pytest.raises(InvalidLinkToken):
        await identity.reset_password().execute(token, NEW_PASSWORD)
    assert await identity.hasher.verify(identity.stored(user).password_hash, PASSWORD)


async def test_a_new_link_replaces_the_earlier_one(identity: Identity) -> None:
    await identity.a_user()
    earlier = await a_reset_token(identity)
    later = await a_reset_token(identity)
    with pytest.raises(InvalidLinkToken):
        await identity.reset_password().execute(earlier, NEW_PASSWORD)
    await identity.reset_password().execute(later, NEW_PASSWORD)


async def test_a_weak_password_leaves_the_link_unused(identity: Identity) -> None:
    user = await identity.a_user()
    token = await a_reset_token(identity)
    with pytest.raises(WeakPassword):
        await identity.reset_password().execute(token, "short")
    await identity.unit_of_work.rollback()  # the request ends
    await identity.reset_password().execute(token, NEW_PASSWORD)
    assert await identity.hasher.verify(identity.stored(user).password_hash, NEW_PASSWORD)


@pytest.mark.parametrize("token", ["", "made-up", "x" * 200])
async def test_an_unknown_token_is_refused(identity: Identity, token: str) -> None:
    await identity.a_user()
    with pytest.raises(InvalidLinkToken) as refused:
        await identity.reset_password().execute(token, NEW_PASSWORD)
    assert refused.value.field == "token"


async def test_a_link_of_a_deleted_account_is_refused(identity: Identity) -> None:
    user = await identity.a_user()
    token = await a_reset_token(identity)
    user.soft_delete(identity.clock.now())
    await identity.users.save(user)
    await identity.unit_of_work.commit()
    with pytest.raises(InvalidLinkToken):
        await identity.reset_password().execute(token, NEW_PASSWORD)


async def test_past_the_ceiling_no_email_and_no_new_link_the_sent_one_still_works(
    identity: Identity,
) -> None:
    await identity.a_user()
    for _ in range(identity.config.email_per_account_per_hour):
        await identity.forgot_password().execute("ada@example.com")
    links = reset_links(identity)
    await identity.forgot_password().execute("ada@example.com")
    assert reset_links(identity) == links
    await identity.reset_password().execute(token_of(links[-1]), NEW_PASSWORD)


async def test_the_ceiling_counts_unknown_addresses_too(identity: Identity) -> None:
    for _ in range(identity.config.email_per_account_per_hour):
        await identity.forgot_password().execute("ada@example.com")
    await identity.a_user()  # the account appears; the hour's ceiling is spent
    await identity.forgot_password().execute("ada@example.com")
    assert reset_links(identity) == []
    identity.clock.advance(3600)
    await identity.forgot_password().execute("ada@example.com")
    assert len(reset_links(identity)) == 1
