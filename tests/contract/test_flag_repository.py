"""`SqlFlagRepository` and `SqlFlagSource` on SQLite and PostgreSQL, and `FeatureFlags` over
them with the memory and Redis caches: two instances stand for two processes."""

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


async def read(engine: AsyncEngine, key: str) -> FeatureFlag | None:
    async with AsyncSession(engine) as session:
        return await SqlFlagRepository(session).get(key)


async def test_a_flag_reads_back_as_it_was_stored(engine: AsyncEngine) -> None:
    users, tenants = {uuid.uuid4(), uuid.uuid4()}, {uuid.uuid4()}
    flag = a_flag(
        "beta",
        description="Beta UI",
        enabled=True,
        rollout_percentage=25,
        user_ids=users,
        tenant_ids=tenants,
    )
    await stored(engine, flag)
    assert await read(engine, "beta") == flag
    assert await read(engine, "gamma") is None


async def test_a_taken_key_is_a_conflict_and_the_transaction_goes_on(engine: AsyncEngine) -> None:
    await stored(engine, a_flag("beta", description="first"))
    async with AsyncSession(engine) as session:
        flags = SqlFlagRepository(session)
        with pytest.raises(FlagAlreadyExists):
            await flags.add(a_flag("beta", description="second"))
        await flags.add(a_flag("gamma"))  # the savepoint kept the session usable
        await session.commit()
    first = await read(engine, "beta")
    assert first is not None
    assert first.description == "first"
    assert await read(engine, "gamma") is not None


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
    engine: AsyncEngine,
) -> None:
    original = a_flag("beta", description="Beta")
    await stored(engine, original)
    later = NOW + timedelta(hours=1)
    async with AsyncSession(engine) as first:
        saved = await SqlFlagRepository(first).save(
            original.changed(now=later, enabled=True), ["enabled"]
        )
        assert saved
        await first.commit()
    user = uuid.uuid4()
    async with AsyncSession(engine) as second:  # worked from the original, before the first
        repository = SqlFlagRepository(second)
        assert await repository.save(original.changed(now=later, user_ids=[user]), ["user_ids"])
        fresh = await repository.get("beta")  # this session sees its own write
        assert fresh is not None
        assert fresh.user_ids == {user}
        await second.commit()
    final = await read(engine, "beta")
    assert final is not None
    assert (final.enabled, final.user_ids, final.description) == (True, frozenset({user}), "Beta")
    assert (final.created_at, final.updated_at) == (NOW, later)


async def test_save_and_delete_report_a_missing_flag(engine: AsyncEngine) -> None:
    await stored(engine, a_flag("beta"))
    async with AsyncSession(engine) as session:
        flags = SqlFlagRepository(session)
        assert not await flags.save(a_flag("gamma", enabled=True), ["enabled"])
        assert await flags.delete("beta")
        assert not await flags.delete("beta")
        await session.commit()
    assert await read(engine, "beta") is None


async def test_lists_page_sort_and_filter(engine: AsyncEngine) -> None:
    await stored(
        engine,
        a_flag("checkout.v2", minutes=1, enabled=True),
        a_flag("beta_search", minutes=3),
        a_flag("betaxsearch", minutes=2, enabled=True),
        a_flag("alpha", minutes=4, enabled=True),
    )
    async with AsyncSession(engine) as session:
        flags = SqlFlagRepository(session)

        async def keys(page: PageRequest, **filters: object) -> list[str]:
            return [flag.key for flag in (await flags.list(page, **filters)).items]  # type: ignore[arg-type]

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


async def test_the_source_reads_committed_flags_only(engine: AsyncEngine) -> None:
    await stored(engine, a_flag("beta"), a_flag("alpha"))
    source = SqlFlagSource(async_sessionmaker(engine, expire_on_commit=False))
    async with AsyncSession(engine) as session:
        await SqlFlagRepository(session).add(a_flag("uncommitted"))
        assert [flag.key for flag in await source.all_flags()] == ["alpha", "beta"]
        await session.rollback()


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
