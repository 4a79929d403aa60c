"""`FlagRepository` and `FlagSource` for use-case tests, each the whole Protocol (checked
at the bottom): flags in a `FakeUnitOfWork`, and the committed ones as the snapshot's
source reads them, with switches for an outage and a slow read. The repository runs in
tests/contract/test_flag_repository.py beside the SQL adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import replace

from tessera.features.flags.application.ports import FlagRepository, FlagSource
from tessera.features.flags.domain.errors import FlagAlreadyExists
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.pagination import Page, PageRequest
from tests.fakes.unit_of_work import FakeUnitOfWork, Table


class FakeFlagRepository:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[str, FeatureFlag] = Table(unit_of_work)

    async def add(self, flag: FeatureFlag) -> None:
        if flag.key in self.rows:
            raise FlagAlreadyExists(field="key")
        self.rows[flag.key] = flag

    async def get(self, key: str) -> FeatureFlag | None:
        return self.rows.get(key)

    async def save(self, flag: FeatureFlag, fields: Collection[str]) -> bool:
        current = self.rows.get(flag.key)
        if current is None:
            return False
        values = {name: getattr(flag, name) for name in fields}
        self.rows[flag.key] = replace(current, **values, updated_at=flag.updated_at)
        return True

    async def delete(self, key: str) -> bool:
        return self.rows.pop(key, None) is not None

    async def list(
        self, page: PageRequest, *, enabled: bool | None = None, search: str | None = None
    ) -> Page[FeatureFlag]:
        found = [
            flag
            for flag in self.rows.values()
            if enabled in (None, flag.enabled) and (not search or search in flag.key)
        ]
        found.sort(key=lambda f: (getattr(f, page.sort), f.key), reverse=page.order == "desc")
        items = found[page.offset : page.offset + page.limit]
        return Page(items=items, total_items=len(found), request=page)


class FakeFlagSource:
    """The flags a `FakeFlagRepository` committed. `down` makes reads raise
    `DependencyUnavailable`; a read waits for `gate` when one is set (after reading, as a
    query that returned before the caller got its answer); `loads` counts the reads."""

    def __init__(self, flags: FakeFlagRepository | None = None) -> None:
        self._rows = (flags or FakeFlagRepository(FakeUnitOfWork())).rows
        self.loads = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    def put(self, flag: FeatureFlag) -> FeatureFlag:
        """A flag another process wrote and committed."""
        self._rows.put_committed(flag.key, flag)
        return flag

    async def all_flags(self) -> Sequence[FeatureFlag]:
        self.loads += 1
        rows = list(self._rows.committed().values())
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise DependencyUnavailable()
        return rows


def _check(flags: FakeFlagRepository, source: FakeFlagSource) -> tuple[FlagRepository, FlagSource]:
    return flags, source
