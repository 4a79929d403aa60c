"""`FeatureFlags`: answers from an in-process snapshot, reloaded on change and after 5 s."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tessera.features.flags.application.feature_flags import VERSION_KEY, FeatureFlags
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.ports import Counter
from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput
from tests.fakes.flags import FakeFlagSource
from tests.unit.flags.fakes import NOW, Monotonic

USER = uuid.UUID("0b7c1e54-3f7c-4a4e-9a53-2b1d7a8b6c01")


class DownCache(InMemoryCache):
    async def get(self, key: str) -> bytes | None:
        raise DependencyUnavailable()

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        raise DependencyUnavailable()

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        raise DependencyUnavailable()


def on_for(user: uuid.UUID, key: str = "beta", *, enabled: bool = True) -> FeatureFlag:
    return FeatureFlag.create(key=key, now=NOW, enabled=enabled, user_ids=[user])


@pytest.fixture
def store() -> FakeFlagSource:
    return FakeFlagSource()


@pytest.fixture
def clock() -> Monotonic:
    return Monotonic()


def flags_over(
    store: FakeFlagSource, clock: Monotonic, cache: InMemoryCache | None = None
) -> FeatureFlags:
    return FeatureFlags(store, cache or InMemoryCache(clock), monotonic=clock)


async def test_is_enabled_follows_the_flag_and_an_unknown_key_is_off(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    flags = flags_over(store, clock)
    assert await flags.is_enabled("beta", USER)
    assert await flags.is_enabled("beta", str(USER).upper())  # the id's text works too
    assert not await flags.is_enabled("beta", uuid.uuid4())
    assert not await flags.is_enabled("never-made", USER)
    assert not await flags.is_enabled("Not A Key", USER)
    with pytest.raises(InvalidInput):
        await flags.is_enabled("beta", "not-a-uuid")


async def test_tenant_allow_lists_apply_when_the_tenant_is_given(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    tenant = uuid.uuid4()
    store.put(FeatureFlag.create(key="beta", now=NOW, enabled=True, tenant_ids=[tenant]))
    flags = flags_over(store, clock)
    assert await flags.is_enabled("beta", USER, tenant)
    assert not await flags.is_enabled("beta", USER)


async def test_one_query_serves_every_read_for_five_seconds_then_it_reloads(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    flags = flags_over(store, clock)
    for _ in range(100):
        assert await flags.is_enabled("beta", USER)
    assert store.loads == 1
    store.put(on_for(USER, enabled=False))  # changed behind its back, with no announcement
    clock.advance(4.9)
    assert await flags.is_enabled("beta", USER)  # the documented bound: up to 5 s stale
    clock.advance(0.2)
    assert not await flags.is_enabled("beta", USER)
    assert store.loads == 2


async def test_concurrent_reads_on_an_empty_snapshot_share_one_load(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    store.gate = asyncio.Event()
    flags = flags_over(store, clock)
    readers = [asyncio.create_task(flags.is_enabled("beta", USER)) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    assert all(await asyncio.gather(*readers))
    assert store.loads == 1


async def test_a_change_in_this_process_is_seen_by_the_next_read(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    flags = flags_over(store, clock)
    assert await flags.is_enabled("beta", USER)
    store.put(on_for(USER, enabled=False))
    await flags.changed()
    assert not await flags.is_enabled("beta", USER)  # no time passed


async def test_another_instance_sharing_the_cache_sees_a_change_within_a_second(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    shared = InMemoryCache(clock)
    writer, reader = flags_over(store, clock, shared), flags_over(store, clock, shared)
    store.put(on_for(USER))
    assert await reader.is_enabled("beta", USER)
    assert await writer.is_enabled("beta", USER)
    clock.advance(0.3)
    store.put(on_for(USER, enabled=False))
    await writer.changed()
    assert await shared.get(VERSION_KEY) is not None
    assert not await writer.is_enabled("beta", USER)
    assert await reader.is_enabled("beta", USER)  # its version check is not due yet
    clock.advance(0.7)  # one second after its load: it reads the version, which moved
    assert not await reader.is_enabled("beta", USER)
    loads = store.loads
    clock.advance(1.0)  # version unchanged: no reload
    assert not await reader.is_enabled("beta", USER)
    assert store.loads == loads


async def test_with_the_cache_down_changes_still_apply_locally_and_elsewhere_within_5_s(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    down = DownCache(clock)
    writer, reader = flags_over(store, clock, down), flags_over(store, clock, down)
    store.put(on_for(USER))
    assert await reader.is_enabled("beta", USER)
    store.put(on_for(USER, enabled=False))
    await writer.changed()  # the announcement fails quietly
    assert not await writer.is_enabled("beta", USER)
    clock.advance(2)
    assert await reader.is_enabled("beta", USER)
    clock.advance(3)
    assert not await reader.is_enabled("beta", USER)


async def test_a_failed_reload_serves_the_previous_snapshot_and_retries(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    flags = flags_over(store, clock)
    assert await flags.is_enabled("beta", USER)
    store.down = True
    clock.advance(6)
    assert await flags.is_enabled("beta", USER)  # database down: last known answer
    loads = store.loads
    assert await flags.is_enabled("beta", USER)
    assert store.loads == loads  # not a query per read while it is down
    store.down = False
    store.put(on_for(USER, enabled=False))
    clock.advance(1)
    assert not await flags.is_enabled("beta", USER)


async def test_with_no_snapshot_yet_a_database_outage_is_an_error(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.down = True
    with pytest.raises(DependencyUnavailable):
        await flags_over(store, clock).is_enabled("beta", USER)


async def test_a_load_that_raced_a_change_is_not_kept(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER))
    flags = flags_over(store, clock)
    store.gate = asyncio.Event()
    early = asyncio.create_task(flags.is_enabled("beta", USER))
    await asyncio.sleep(0)  # the load has read the version and waits on the database
    await flags.changed()  # a change commits meanwhile (the load may have missed it)
    store.put(on_for(USER, enabled=False))
    store.gate.set()
    assert await early  # it began before the change: the old answer is fine for it
    store.gate = None
    assert not await flags.is_enabled("beta", USER)  # reloaded, not the raced snapshot


async def test_evaluate_all_answers_for_every_flag_sorted_by_key(
    store: FakeFlagSource, clock: Monotonic
) -> None:
    store.put(on_for(USER, "zeta"))
    store.put(on_for(uuid.uuid4(), "alpha"))
    store.put(FeatureFlag.create(key="everyone", now=NOW, enabled=True, rollout_percentage=100))
    answers = await flags_over(store, clock).evaluate_all(USER)
    assert answers == {"alpha": False, "everyone": True, "zeta": True}
    assert list(answers) == ["alpha", "everyone", "zeta"]
