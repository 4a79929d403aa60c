from __future__ import annotations

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera.features.ops.adapters.probes import CacheProbe, SqlDatabaseProbe
from tessera.features.ops.application.check_health import CheckHealth
from tessera.features.ops.application.ports import HealthProbe
from tessera.shared.application.ports import Cache


class OpsProvider(Provider):
    scope = Scope.APP

    @provide
    def probes(self, engine: AsyncEngine, cache: Cache) -> list[HealthProbe]:
        return [SqlDatabaseProbe(engine), CacheProbe(cache)]

    @provide
    def check_health(self, probes: list[HealthProbe]) -> CheckHealth:
        return CheckHealth(probes)
