"""`FlagRepository` and `FlagSource` on SQLite, PostgreSQL and the fakes, and `FeatureFlags`
over the SQL ones with the memory and Redis caches: two instances stand for two processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.flags.adapters.models import FeatureFlagModel
from tessera.features.flags.adapters.sql_flags import SqlFlagRepository, SqlFlagSource
from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.domain.errors import FlagAlreadyExists
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.adapters.database import create_engine
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.application.ports import Cache
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.pagination import PageRequest
from tests.contract.stores import Store
from tests.redis_topologies import MODES, redis_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


def a_flag(key: str, *, minutes: int = 0, **fields: object) -> FeatureFlag:
    return FeatureFlag.create(key=key, now=NOW + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


async def stored(engine: AsyncEngine, *flags: FeatureFlag) -> None:
    async with AsyncSession(engine) as session:
        for flag in flags:
            await SqlFlagRepository(session).add(flag)
        await session.commit()


async def kept(store: Store, *flags: FeatureFlag) -> None:
    async with store.unit() as unit:
        for flag in flags:
            await unit.flags.add(flag)
        await unit.commit()


async def read(store: Store, key: str) -> FeatureFlag | None:
    async with store.unit() as unit:
        return await unit.flags.get(key)


async def test_a_flag_reads_back_as_it_was_stored(store: Store) -> None:
    users, tenants = {uuid.uuid4(), uuid.uuid4()}, {uuid.uuid4()}
    flag = a_flag(
        "beta",
        description="Beta UI",
        enabled=True,
        rollout_percentage=25,
        user_ids=users,
        tenant_ids=tenants,
    )
    await kept(store, flag)
    assert await read(store, "beta") == flag
    assert await read(store, "gamma") is None


async def test_a_taken_key_is_a_conflict_and_the_transaction_goes_on(store: Store) -> None:
    await kept(store, a_flag("beta", description="first"))
    async with store.unit() as unit:
        with pytest.raises(FlagAlreadyExists):
            await unit.flags.add(a_flag("beta", description="second"))
        await unit.flags.add(a_flag("gamma"))  # the savepoint kept the session usable
        await unit.commit()
    assert await read(store, "gamma") is not None
    first = await read(store, "beta")
    assert first is not None
    assert first.description == "first"


async def test_the_database_refuses_a_rollout_over_100(engine: AsyncEngine) -> None:
    row = {
        "id": uuid.uuid4(),
        "key": "bad",
        "description": "",
        "enabled": True,
        "rollout_percentage": 101,
        "tenant_ids": [],
        "user_ids": [],
        "created_at": NOW,
        "updated_at": NOW,
    }
    async with AsyncSession(engine) as session:
        with pytest.raises(IntegrityError):
            await session.execute(insert(FeatureFlagModel).values(**row))


async def test_save_writes_only_its_fields_so_concurrent_changes_both_stay(
    store: Store,
) -> None:
    original = a_flag("beta", description="Beta")
    await kept(store, original)
    later = NOW + timedelta(hours=1)
    async with store.unit() as first:
        saved = await first.flags.save(original.changed(now=later, enabled=True), ["enabled"])
        assert saved
        await first.commit()
    user = uuid.uuid4()
    async with store.unit() as second:  # worked from the original, before the first
        changed = original.changed(now=later, user_ids=[user])
        assert await second.flags.save(changed, ["user_ids"])
        fresh = await second.flags.get("beta")  # this unit sees its own write
        assert fresh is not None
        assert fresh.user_ids == {user}
        await second.commit()
    final = await read(store, "beta")
    assert final is not None
    assert (final.enabled, final.user_ids, final.description) == (True, frozenset({user}), "Beta")
    assert (final.created_at, final.updated_at) == (NOW, later)


async def test_save_and_delete_report_a_missing_flag(store: Store) -> None:
    await kept(store, a_flag("beta"))
    async with store.unit() as unit:
        assert not await unit.flags.save(a_flag("gamma", enabled=True), ["enabled"])
        assert await unit.flags.delete("beta")
        assert not await unit.flags.delete("beta")
        await unit.commit()
    assert await read(store, "beta") is None


async def test_what_a_unit_does_not_commit_is_gone(store: Store) -> None:
    await kept(store, a_flag("beta"))
    async with store.unit() as unit:
        await unit.flags.add(a_flag("gamma"))
        assert await unit.flags.delete("beta")
    assert await read(store, "gamma") is None
    assert await read(store, "beta") is not None


async def test_lists_page_sort_and_filter(store: Store) -> None:
    await kept(
        store,
        a_flag("checkout.v2", minutes=1, enabled=True),
        a_flag("beta_search", minutes=3),
        a_flag("betaxsearch", minutes=2, enabled=True),
        a_flag("alpha", minutes=4, enabled=True),
    )
    async with store.unit() as unit:
        flags = unit.flags

        async def keys(
            page: PageRequest, *, enabled: bool | None = None, search: str | None = None
        ) -> list[str]:
            found = await flags.list(page, enabled=enabled, search=search)
            return [flag.key for flag in found.items]

        by_key = PageRequest(limit=3, sort="key", order="asc")
        assert await keys(by_key) == ["alpha", "beta_search", "betaxsearch"]
        assert await keys(PageRequest(page=2, limit=3, sort="key", order="asc")) == ["checkout.v2"]
        assert await keys(PageRequest(sort="created_at", order="desc")) == [
            "alpha",
            "beta_search",
            "betaxsearch",
            "checkout.v2",
        ]
        assert (await keys(PageRequest(sort="created_at", order="asc")))[0] == "checkout.v2"
        page = await flags.list(by_key, enabled=True)
        assert [f.key for f in page.items] == ["alpha", "betaxsearch", "checkout.v2"]
        assert (page.total_items, page.total_pages) == (3, 1)
        assert await keys(by_key, search="beta_") == ["beta_search"]  # `_` is no wildcard
        assert await keys(by_key, search="%") == []
        assert await keys(by_key, search="search", enabled=False) == ["beta_search"]


async def test_the_source_reads_committed_flags_only(store: Store) -> None:
    await kept(store, a_flag("beta"), a_flag("alpha"))
    source = store.flag_source()
    async with store.unit() as unit:
        await unit.flags.add(a_flag("uncommitted"))
        assert sorted(flag.key for flag in await source.all_flags()) == ["alpha", "beta"]


async def test_the_source_raises_dependency_unavailable_when_the_database_is_down() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(DependencyUnavailable):
            await SqlFlagSource(async_sessionmaker(engine)).all_flags()
    finally:
        await engine.dispose()


@pytest.fixture(params=["memory", *MODES])
async def shared_cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield InMemoryCache()
        return
    async with redis_for(request, request.param) as (topology, prefix):
        client = connect_redis(topology)
        yield RedisCache(batcher_for(client), prefix=prefix)
        await client.aclose()


async def test_a_change_announced_by_one_instance_reaches_another_within_a_second(
    engine: AsyncEngine, shared_cache: Cache
) -> None:
    user = uuid.uuid4()
    flag = a_flag("beta", enabled=True, user_ids=[user])
    await stored(engine, flag)
    source = SqlFlagSource(async_sessionmaker(engine, expire_on_commit=False))
    writer, reader = FeatureFlags(source, shared_cache), FeatureFlags(source, shared_cache)
    assert await reader.is_enabled("beta", user)
    async with AsyncSession(engine) as session:
        await SqlFlagRepository(session).save(flag.changed(now=NOW, enabled=False), ["enabled"])
        await session.commit()
    await writer.changed()
    assert not await writer.is_enabled("beta", user)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await reader.is_enabled("beta", user):
        assert loop.time() - started < 1.5, "the other instance still answers from its snapshot"
        await asyncio.sleep(0.05)
