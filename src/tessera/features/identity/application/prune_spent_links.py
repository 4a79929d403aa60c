from __future__ import annotations

from datetime import timedelta

from tessera.features.identity.application.ports import OneTimeTokens
from tessera.shared.application.ports import Clock, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope

KEEP_SPENT_LINKS = timedelta(days=1)


class PruneSpentLinks:
    """Housekeeping: one-time tokens expired or used more than a day ago are deleted (they
    can never be spent again; the day keeps recent ones for support questions)."""

    def __init__(
        self, tokens: OneTimeTokens, unit_of_work: UnitOfWork, clock: Clock, scope: TenantScope
    ) -> None:
        self._scope = scope
        self._tokens, self._uow, self._clock = tokens, unit_of_work, clock

    async def execute(self) -> int:
        self._scope.across_tenants("housekeeping: spent one-time links")
        pruned = await self._tokens.prune(before=self._clock.now() - KEEP_SPENT_LINKS)
        await self._uow.commit()
        return pruned
