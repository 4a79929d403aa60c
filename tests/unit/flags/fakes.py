"""An in-memory flag store for the unit tests: writes wait for `commit`, as in SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from tessera.features.flags.domain.errors import FlagAlreadyExists
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.pagination import Page, PageRequest

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class FlagStore:
    """`FlagRepository` and `UnitOfWork` (this unit of work sees its writes, others only
    after `commit`) and `FlagSource` (committed flags) in one."""

    def __init__(self) -> None:
        self.committed: dict[str, FeatureFlag] = {}
        self.working: dict[str, FeatureFlag] = {}
        self.commits = 0
        self.loads = 0
        self.down = False  # `all_flags` raises DependencyUnavailable
        self.gate: asyncio.Event | None = None  # `all_flags` waits for it when set
        self.listed: list[tuple[PageRequest, bool | None, str | None]] = []

    def put(self, flag: FeatureFlag) -> FeatureFlag:
        """Commit a flag directly, as another process would."""
        self.committed[flag.key] = self.working[flag.key] = flag
        return flag

    # FlagRepository
    async def add(self, flag: FeatureFlag) -> None:
        if flag.key in self.working:
            raise FlagAlreadyExists(field="key")
        self.working[flag.key] = flag

    async def get(self, key: str) -> FeatureFlag | None:
        return self.working.get(key)

    async def save(self, flag: FeatureFlag, fields: Collection[str]) -> bool:
        current = self.working.get(flag.key)
        if current is None:
            return False
        values = {name: getattr(flag, name) for name in fields}
        self.working[flag.key] = replace(current, **values, updated_at=flag.updated_at)
        return True

    async def delete(self, key: str) -> bool:
        return self.working.pop(key, None) is not None

    async def list(
        self, page: PageRequest, *, enabled: bool | None = None, search: str | None = None
    ) -> Page[FeatureFlag]:
        self.listed.append((page, enabled, search))
        found = [
            flag
            for flag in self.working.values()
            if (enabled is None or flag.enabled is enabled) and (not search or search in flag.key)
        ]
        found.sort(key=lambda f: (getattr(f, page.sort), f.key), reverse=page.order == "desc")
        items = found[page.offset : page.offset + page.limit]
        return Page(items=items, total_items=len(found), request=page)

    # UnitOfWork
    async def commit(self) -> None:
        self.committed = dict(self.working)
        self.commits += 1

    async def rollback(self) -> None:
        self.working = dict(self.committed)

    # FlagSource
    async def all_flags(self) -> Sequence[FeatureFlag]:
        self.loads += 1
        rows = list(self.committed.values())  # what the query read, before any wait
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise DependencyUnavailable()
        return rows
