from __future__ import annotations

from dishka import Provider, Scope, provide

from tessera.features.ops.application.check_health import CheckHealth
from tessera.features.ops.application.ports import HealthProbe


class OpsProvider(Provider):
    """The probes themselves come from the composition root, one per dependency."""

    scope = Scope.APP

    @provide
    def check_health(self, probes: list[HealthProbe]) -> CheckHealth:
        return CheckHealth(probes)
