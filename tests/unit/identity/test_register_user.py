"""`RegisterUser` on fakes (SPEC §3.3 `POST /auth/register`): the account, its tenant, the
invitation path, and what it leaves in the outbox."""

from __future__ import annotations

import pytest

from tessera.features.email.application.requests import EMAIL_SEND
from tessera.features.identity.application.accounts import VERIFY_EMAIL, hash_token
from tessera.features.identity.application.register_user import InvalidInvitation
from tessera.features.identity.domain.errors import EmailAlreadyRegistered, WeakPassword
from tessera.features.identity.domain.invitation import Invitation
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import InvalidInput
from tests.unit.identity.harness import PASSWORD, Identity, registration


@pytest.fixture
def identity() -> Identity:
    return Identity()


def templates(identity: Identity) -> list[str]:
    return [event.payload["template"] for event in identity.outbox.of_type(EMAIL_SEND)]


async def invite(identity: Identity, email: str, role: Role = Role.USER) -> str:
    admin = await identity.a_user("boss@example.com", role=Role.TENANT_ADMIN)
    invitation = Invitation.issue(
        tenant_id=admin.tenant_id,
        email=email,
        role=role,
        token_hash=hash_token("the-invitation-token"),
        invited_by=admin.id,
        inviter_role=admin.role,
        now=identity.clock.now(),
    )
    await identity.invitations.add(invitation)
    await identity.unit_of_work.commit()
    return "the-invitation-token"


async def test_a_new_user_gets_a_tenant_of_their_own_as_its_admin(identity: Identity) -> None:
    profile = await identity.register().execute(
        registration("  Grace@Example.COM ", tenant_name="Navy")
    )
    assert profile.email == "grace@example.com"
    assert profile.role == Role.TENANT_ADMIN.value
    assert not profile.is_verified
    assert identity.tenant_names() == {profile.tenant_id: "Navy"}
    stored = identity.users.rows.committed()[profile.user_id]
    assert stored.password_hash != PASSWORD
    assert await identity.hasher.verify(stored.password_hash, PASSWORD)


async def test_without_a_tenant_name_the_tenant_is_named_after_the_user(
    identity: Identity,
) -> None:
    profile = await identity.register().execute(registration())
    assert identity.tenant_names()[profile.tenant_id] == "Grace Hopper"


async def test_the_created_event_welcome_and_verification_emails_commit_together(
    identity: Identity,
) -> None:
    profile = await identity.register().execute(registration())
    [created] = identity.outbox.of_type("user.created")
    assert created.payload["user_id"] == str(profile.user_id)
    assert created.tenant_id == profile.tenant_id
    assert templates(identity) == ["welcome_email", VERIFY_EMAIL]
    [verify] = [
        e for e in identity.outbox.of_type(EMAIL_SEND) if e.payload["template"] == VERIFY_EMAIL
    ]
    assert verify.payload["to"] == "grace@example.com"
    assert verify.payload["context"]["link"].startswith("https://app.example/verify-email?token=")


async def test_a_taken_email_is_a_conflict_and_nothing_is_written(identity: Identity) -> None:
    await identity.a_user("grace@example.com")
    before = identity.outbox.events[:]
    with pytest.raises(EmailAlreadyRegistered):
        await identity.register().execute(registration("GRACE@example.com"))
    await identity.unit_of_work.rollback()  # the request ends
    assert len(identity.users.rows.committed()) == 1
    assert identity.tenant_names() == {}
    assert identity.outbox.events == before


async def test_a_weak_password_is_refused_before_anything_is_written(identity: Identity) -> None:
    with pytest.raises(WeakPassword):
        await identity.register().execute(registration(password="grace@example.com"))
    with pytest.raises(WeakPassword):
        await identity.register().execute(registration(password="password123"))
    assert identity.users.rows.committed() == {}
    assert identity.unit_of_work.commits == 0


async def test_an_invitation_joins_its_tenant_with_its_role_already_verified(
    identity: Identity,
) -> None:
    token = await invite(identity, "grace@example.com", Role.TENANT_ADMIN)
    [admin] = identity.users.rows.committed().values()
    profile = await identity.register().execute(registration(invitation_token=token))
    assert profile.tenant_id == admin.tenant_id
    assert profile.role == Role.TENANT_ADMIN.value
    assert profile.is_verified
    assert len(identity.outbox.of_type("invitation.accepted")) == 1
    assert templates(identity) == ["welcome_email"], "a proven address gets no verify link"
    joined = identity.users.rows.committed()[profile.user_id]
    joined.soft_delete(identity.clock.now())  # the address is free again, the link is spent
    await identity.users.save(joined)
    await identity.unit_of_work.commit()
    with pytest.raises(InvalidInvitation):
        await identity.register().execute(registration(invitation_token=token))


async def test_an_invitation_is_only_for_the_address_it_was_sent_to(identity: Identity) -> None:
    token = await invite(identity, "grace@example.com")
    with pytest.raises(InvalidInvitation):
        await identity.register().execute(
            registration("mallory@example.com", invitation_token=token)
        )
    with pytest.raises(InvalidInvitation):
        await identity.register().execute(registration(invitation_token="not-a-token"))


async def test_an_expired_invitation_is_refused(identity: Identity) -> None:
    token = await invite(identity, "grace@example.com")
    identity.clock.advance(8 * 86400)
    with pytest.raises(InvalidInvitation):
        await identity.register().execute(registration(invitation_token=token))


async def test_a_tenant_name_cannot_come_with_an_invitation(identity: Identity) -> None:
    token = await invite(identity, "grace@example.com")
    with pytest.raises(InvalidInput) as refused:
        await identity.register().execute(registration(tenant_name="Mine", invitation_token=token))
    assert refused.value.field == "tenant_name"


async def test_verification_emails_stop_at_the_per_account_ceiling(identity: Identity) -> None:
    for _ in range(identity.config.email_per_account_per_hour):
        profile = await identity.register().execute(registration())
        stored = identity.users.rows.committed()[profile.user_id]
        stored.soft_delete(identity.clock.now())  # the address is free again
        await identity.users.save(stored)
        await identity.unit_of_work.commit()
    await identity.register().execute(registration())
    sent = templates(identity)
    assert sent.count("welcome_email") == identity.config.email_per_account_per_hour + 1
    assert sent.count(VERIFY_EMAIL) == identity.config.email_per_account_per_hour
