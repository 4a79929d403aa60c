"""The tenancy rules, without a database: names, and who reaches which tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.tenancy.application.access import require_tenant_manager
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_access import in_reach
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Forbidden, InvalidInput

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
OWN, OTHER = uuid.uuid4(), uuid.uuid4()


def caller(role: Role, tenant_id: uuid.UUID = OWN) -> Principal:
    return Principal(uuid.uuid4(), tenant_id, role, uuid.uuid4())


def tenant(name: str = "Acme") -> Tenant:
    return Tenant(id=OWN, name=name, is_active=True, created_at=EPOCH, updated_at=EPOCH)


def test_rename_trims_and_moves_updated_at_only_on_a_real_change() -> None:
    acme = tenant()
    acme.rename(" Acme ", now=EPOCH + timedelta(hours=1))
    assert acme.updated_at == EPOCH
    acme.rename("  Acme Corp ", now=EPOCH + timedelta(hours=2))
    assert (acme.name, acme.updated_at) == ("Acme Corp", EPOCH + timedelta(hours=2))


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_rename_refuses_blank_and_overlong_names(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        tenant().rename(name, now=EPOCH)
    assert refused.value.field == "name"


def test_reach_admin_everywhere_tenant_admin_at_home_user_nowhere() -> None:
    assert in_reach(caller(Role.ADMIN), OTHER)
    assert in_reach(caller(Role.TENANT_ADMIN), OWN)
    assert not in_reach(caller(Role.TENANT_ADMIN), OTHER)
    assert not in_reach(caller(Role.USER), OWN)


def test_only_administrators_manage_tenants() -> None:
    require_tenant_manager(caller(Role.ADMIN))
    require_tenant_manager(caller(Role.TENANT_ADMIN))
    with pytest.raises(Forbidden):
        require_tenant_manager(caller(Role.USER))
