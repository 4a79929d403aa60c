from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import services
from tests.contract.stores import FakeStore, SqlStore, Store


@pytest.fixture(params=["sqlite", "postgresql", "fake"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A repository contract's ground: each database, then the fakes of tests/fakes."""
    if request.param == "fake":
        yield FakeStore()
        return
    async with services.migrated(request.param, tmp_path) as engine:
        yield SqlStore(request.param, engine)
