from __future__ import annotations

from dishka import Provider, Scope, provide

from tessera.features.ops.adapters.pool_gauges import PoolGauges
from tessera.features.ops.adapters.prometheus import PrometheusReport
from tessera.features.ops.application.check_health import CheckHealth
from tessera.features.ops.application.ports import HealthProbe, MetricsReport


class OpsProvider(Provider):
    """The probes and the pool gauges come from the composition root (they span features
    and modes)."""

    scope = Scope.APP

    @provide
    def check_health(self, probes: list[HealthProbe]) -> CheckHealth:
        return CheckHealth(probes)

    @provide
    def metrics_report(self, gauges: PoolGauges) -> MetricsReport:
        return PrometheusReport(gauges)
