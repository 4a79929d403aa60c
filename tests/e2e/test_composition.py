"""Tests swap adapters by passing overriding providers to the container, never by patching."""

from __future__ import annotations

import pytest
from dishka import Provider, Scope, provide
from dishka.exceptions import ImplicitOverrideDetectedError

from tessera.main.ioc import make_container
from tessera.shared.application.ports import Cache, Counter
from tessera.shared.domain.errors import DependencyUnavailable
from tests.e2e.harness import client_for, settings_for


class UnreachableCache:
    """A cache whose server is down: every call fails as the Redis adapter's would."""

    async def get(self, key: str) -> bytes | None:
        raise DependencyUnavailable()

    async def set(self, key: str, value: bytes, *, ttl_seconds: float) -> None:
        raise DependencyUnavailable()

    async def delete(self, *keys: str) -> int:
        raise DependencyUnavailable()

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        raise DependencyUnavailable()

    async def ping(self) -> None:
        raise DependencyUnavailable()


class UnreachableCacheProvider(Provider):
    @provide(scope=Scope.APP, override=True)
    def cache(self) -> Cache:
        return UnreachableCache()


async def test_an_overriding_provider_replaces_the_adapter_in_the_running_app(
    sqlite_url: str,
) -> None:
    settings = settings_for(database_url=sqlite_url)
    async with client_for(settings, UnreachableCacheProvider()) as client:
        cache = await client.get("/health/cache")
        database = await client.get("/health/database")
    assert cache.status_code == 503
    assert cache.json()["error"]["details"]["failing"] == ["cache"]
    assert database.status_code == 200


def test_an_override_must_say_so(sqlite_url: str) -> None:
    class Sneaky(Provider):
        @provide(scope=Scope.APP)
        def cache(self) -> Cache:
            return UnreachableCache()

    with pytest.raises(ImplicitOverrideDetectedError):
        make_container(settings_for(database_url=sqlite_url), Sneaky())
