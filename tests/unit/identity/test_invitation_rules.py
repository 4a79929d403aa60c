"""Invitation rules without a database: who may grant what, status over time, revoking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.identity.domain.invitation import (
    INVITATION_TTL,
    AlreadyAccepted,
    Invitation,
    InvitationStatus,
    RoleNotGrantable,
    grantable_roles,
)
from tessera.shared.domain.caller import Role

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def invite(role: Role = Role.USER, inviter: Role = Role.TENANT_ADMIN) -> Invitation:
    return Invitation.issue(
        tenant_id=uuid.uuid4(),
        email="bob@example.com",
        role=role,
        token_hash="h" * 64,
        invited_by=uuid.uuid4(),
        inviter_role=inviter,
        now=NOW,
    )


def test_a_tenant_admin_grants_user_and_tenant_admin_but_never_admin() -> None:
    assert grantable_roles(Role.TENANT_ADMIN) == {Role.USER, Role.TENANT_ADMIN}
    assert grantable_roles(Role.ADMIN) == set(Role)
    assert grantable_roles(Role.USER) == set()
    with pytest.raises(RoleNotGrantable):
        invite(Role.ADMIN, inviter=Role.TENANT_ADMIN)
    with pytest.raises(RoleNotGrantable):
        invite(Role.USER, inviter=Role.USER)
    assert invite(Role.ADMIN, inviter=Role.ADMIN).role is Role.ADMIN


def test_an_invitation_is_pending_for_seven_days_then_expired() -> None:
    invitation = invite()
    assert invitation.expires_at == NOW + INVITATION_TTL == NOW + timedelta(days=7)
    assert (
        invitation.status(NOW + INVITATION_TTL - timedelta(seconds=1)) is InvitationStatus.PENDING
    )
    assert invitation.status(NOW + INVITATION_TTL) is InvitationStatus.EXPIRED


def test_revoking_is_idempotent_and_refused_once_accepted() -> None:
    invitation = invite()
    invitation.revoke(NOW + timedelta(hours=1))
    invitation.revoke(NOW + timedelta(hours=2))
    assert invitation.revoked_at == NOW + timedelta(hours=1)
    assert invitation.status(NOW + timedelta(hours=3)) is InvitationStatus.REVOKED
    accepted = invite()
    accepted.accepted_at = NOW + timedelta(minutes=5)
    with pytest.raises(AlreadyAccepted):
        accepted.revoke(NOW + timedelta(hours=1))
    assert accepted.status(NOW + timedelta(days=30)) is InvitationStatus.ACCEPTED
