"""Which tenant's rows a unit of work may touch: the second wall behind the use cases.

Use cases enforce tenancy themselves (a tenant admin's query names its tenant). On
PostgreSQL the database enforces it again with row-level security: every transaction starts
by telling PostgreSQL the scope (`app.tenant_id`, or `app.all_tenants`), and the policies
show and accept only that tenant's rows. A forgotten filter in a query then returns nothing
instead of another tenant's data.

The scope is per request (per job in the worker) and starts empty: no tenant, no rows. An
authenticated request enters its caller's tenant. Work that must span tenants (sign-in by
email, one-time links, registration, an admin's cross-tenant view, housekeeping) asks for it
with `across_tenants(reason)`, which is logged: the explicit, audited path.

The scope is read when a transaction begins, so it must be set before the first query of
that transaction; changing it inside one is a programming error and raises.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

logger = logging.getLogger("tessera.audit")


class ScopeChangedInTransaction(RuntimeError):
    """The tenant scope changed after the transaction it applies to had begun."""


@dataclass(frozen=True, slots=True)
class ScopeState:
    tenant_id: uuid.UUID | None
    all_tenants: bool


class TenantScope:
    def __init__(self) -> None:
        self._tenant_id: uuid.UUID | None = None
        self._all_tenants = False
        self._reason: str | None = None
        self._in_transaction = False

    @property
    def state(self) -> ScopeState:
        return ScopeState(self._tenant_id, self._all_tenants)

    def enter(self, tenant_id: uuid.UUID) -> None:
        """Rows of this tenant only, from the next transaction on."""
        self._change(tenant_id, all_tenants=False)

    def across_tenants(self, reason: str, *, actor: uuid.UUID | None = None) -> None:
        """Rows of every tenant, from the next transaction on; logged with `reason`."""
        if self._all_tenants and self._reason == reason:
            return
        self._change(self._tenant_id, all_tenants=True)
        self._reason = reason
        logger.info(
            "cross-tenant access",
            extra={"reason": reason, "actor": None if actor is None else str(actor)},
        )

    def transaction_began(self) -> ScopeState:
        """Called by the database adapter as a transaction begins: the scope to apply."""
        self._in_transaction = True
        return self.state

    def transaction_ended(self) -> None:
        self._in_transaction = False

    def _change(self, tenant_id: uuid.UUID | None, *, all_tenants: bool) -> None:
        if (tenant_id, all_tenants) == (self._tenant_id, self._all_tenants):
            return
        if self._in_transaction:
            raise ScopeChangedInTransaction(
                "Set the tenant scope before the first query of a transaction."
            )
        self._tenant_id, self._all_tenants = tenant_id, all_tenants
