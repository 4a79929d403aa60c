"""`TenantScope`: empty by default, one tenant or every tenant, never changed mid-transaction,
and every cross-tenant grant logged."""

from __future__ import annotations

import logging
import uuid

import pytest

from tessera.shared.application.tenant_scope import (
    ScopeChangedInTransaction,
    ScopeState,
    TenantScope,
)

ACME = uuid.uuid4()


def test_a_new_scope_reaches_no_tenant() -> None:
    assert TenantScope().state == ScopeState(tenant_id=None, all_tenants=False)


def test_entering_a_tenant_and_widening_to_all_are_applied_at_the_next_transaction() -> None:
    scope = TenantScope()
    scope.enter(ACME)
    assert scope.transaction_began() == ScopeState(ACME, all_tenants=False)
    scope.transaction_ended()
    scope.across_tenants("housekeeping")
    assert scope.transaction_began() == ScopeState(ACME, all_tenants=True)


def test_changing_the_scope_inside_a_transaction_raises_but_repeating_it_does_not() -> None:
    scope = TenantScope()
    scope.enter(ACME)
    scope.transaction_began()
    scope.enter(ACME)  # the same scope: nothing changes
    with pytest.raises(ScopeChangedInTransaction):
        scope.enter(uuid.uuid4())
    with pytest.raises(ScopeChangedInTransaction):
        scope.across_tenants("too late")
    assert scope.state == ScopeState(ACME, all_tenants=False)


def test_every_cross_tenant_grant_is_logged_with_its_reason_and_actor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    actor = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="tessera.audit"):
        TenantScope().across_tenants("administration by an admin", actor=actor)
    (record,) = [r for r in caplog.records if r.name == "tessera.audit"]
    assert record.getMessage() == "cross-tenant access"
    assert (record.reason, record.actor) == ("administration by an admin", str(actor))  # type: ignore[attr-defined]
