"""Ports of the feature flags feature: the flags in a request's unit of work, and all of them
for the in-process snapshot."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.domain.pagination import Page, PageRequest


class FlagRepository(Protocol):
    """Feature flags in the caller's unit of work: nothing is visible elsewhere before its
    commit. Keys are unique."""

    async def add(self, flag: FeatureFlag) -> None:
        """Raises `FlagAlreadyExists` when a flag has the key already, even in a race."""
        ...

    async def get(self, key: str) -> FeatureFlag | None: ...

    async def save(self, flag: FeatureFlag, fields: Collection[str]) -> bool:
        """Write `fields` and `updated_at` of the flag with `flag.key`, leaving the others as
        they are in the database (two concurrent changes of different fields both stay);
        False when there is no such flag (any more)."""
        ...

    async def delete(self, key: str) -> bool:
        """False when there was no such flag."""
        ...

    async def list(
        self, page: PageRequest, *, enabled: bool | None = None, search: str | None = None
    ) -> Page[FeatureFlag]:
        """One page, sorted by `page.sort` (`key` or `created_at`, ties broken by key);
        `enabled` filters on the switch, `search` keeps keys containing it (no wildcards)."""
        ...


class FlagSource(Protocol):
    """Every flag, read in a short transaction of its own, outside any request, for the
    in-process snapshot of `FeatureFlags`. Raises `DependencyUnavailable` when the database
    does not answer."""

    async def all_flags(self) -> Sequence[FeatureFlag]: ...
