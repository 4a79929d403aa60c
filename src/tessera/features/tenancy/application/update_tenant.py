from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from tessera.features.tenancy.application.access import reachable_tenant
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.features.tenancy.domain.tenant import MAX_NAME_LENGTH, Tenant
from tessera.shared.application.ports import Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_access import widen_for_admin
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.events import Event
from tessera.shared.domain.patterns import NOT_BLANK


class TenantChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `PATCH /tenants/{id}` may change; any other field is refused (400)."""

    name: Annotated[str, msgspec.Meta(pattern=NOT_BLANK, max_length=MAX_NAME_LENGTH)] | None = None
    mfa_required: (
        Annotated[
            bool,
            msgspec.Meta(
                description="Every user must sign in with a second factor; one without it "
                "who signs in must enrol before anything else answers."
            ),
        ]
        | None
    ) = None


class UpdateTenant:
    """Renames a tenant within the caller's reach, or switches `mfa_required`, and records
    `tenant.updated`. A request that changes nothing writes and records nothing."""

    def __init__(
        self,
        tenants: TenantRepository,
        outbox: Outbox,
        unit_of_work: UnitOfWork,
        clock: Clock,
        scope: TenantScope,
    ) -> None:
        self._scope = scope
        self._tenants, self._outbox, self._uow, self._clock = tenants, outbox, unit_of_work, clock

    async def execute(
        self, caller: Principal, tenant_id: uuid.UUID, changes: TenantChanges
    ) -> Tenant:
        widen_for_admin(self._scope, caller)
        tenant = await reachable_tenant(self._tenants, caller, tenant_id)
        before = (tenant.name, tenant.mfa_required)
        if changes.name is not None:
            tenant.rename(changes.name, now=self._clock.now())
        if changes.mfa_required is not None:
            tenant.require_mfa(changes.mfa_required, now=self._clock.now())
        if (tenant.name, tenant.mfa_required) == before:
            return tenant
        await self._tenants.save(tenant)
        payload = {
            "tenant_id": str(tenant.id),
            "name": tenant.name,
            "mfa_required": tenant.mfa_required,
        }
        self._outbox.record(Event("tenant.updated", payload, tenant_id=tenant.id))
        await self._uow.commit()
        return tenant
