from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping
from datetime import timedelta

from tessera.features.identity.application.accounts import IdentityConfig, profile_key
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.shared.application.ports import Cache, Clock, Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.events import Event

logger = logging.getLogger("tessera.identity")


class PurgeDeletedAccounts:
    """Housekeeping: accounts soft-deleted more than `ACCOUNT_RETENTION_DAYS` ago are deleted
    for good, with their one-time tokens, and `user.purged` (ids only, no personal data) is
    recorded for each in the same transaction, so other features can drop what they keep.
    Works in batches of `purge_batch_size`, one transaction each, until none is left."""

    def __init__(
        self,
        users: UserRepository,
        tokens: OneTimeTokens,
        outbox: Outbox,
        cache: Cache,
        unit_of_work: UnitOfWork,
        clock: Clock,
        config: IdentityConfig,
        scope: TenantScope,
    ) -> None:
        self._scope = scope
        self._users, self._tokens, self._outbox, self._cache = users, tokens, outbox, cache
        self._uow, self._clock, self._config = unit_of_work, clock, config

    async def execute(self) -> int:
        self._scope.across_tenants("housekeeping: purge of deleted accounts")
        before = self._clock.now() - timedelta(days=self._config.account_retention_days)
        limit = self._config.purge_batch_size
        purged = 0
        while batch := await self._users.deleted_before(before, limit=limit):
            gone = await self._purge(batch)
            await self._forget_profiles(gone)
            purged += len(gone)
            if len(batch) < limit or not gone:  # the last batch, or another run took this one
                break
        return purged

    async def _purge(self, batch: Mapping[uuid.UUID, uuid.UUID]) -> Collection[uuid.UUID]:
        """One transaction: the batch's tokens, its users, and an event per user removed."""
        try:
            await self._tokens.forget_users(batch.keys())
            gone = await self._users.purge(batch.keys())
            for user_id in gone:
                tenant_id = batch[user_id]
                payload = {"user_id": str(user_id), "tenant_id": str(tenant_id)}
                self._outbox.record(Event("user.purged", payload, tenant_id=tenant_id))
            await self._uow.commit()
        except Exception:
            await self._uow.rollback()  # leaves the session usable for the other chores
            raise
        return gone

    async def _forget_profiles(self, user_ids: Collection[uuid.UUID]) -> None:
        """Deleting the account dropped its cached profile already; this only makes sure,
        so a cache outage does not stop the purge (the entries expire anyway)."""
        if not user_ids:
            return
        try:
            await self._cache.delete(*(profile_key(user_id) for user_id in user_ids))
        except DependencyUnavailable:
            logger.warning("purged profiles left in the cache", extra={"count": len(user_ids)})
