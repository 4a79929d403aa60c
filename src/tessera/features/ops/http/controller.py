"""Liveness, readiness and per-module health, in the seed's shapes (SPEC §3.11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.openapi import ResponseSpec
from litestar.params import FromPath

from tessera.features.ops.application.check_health import (
    CheckHealth,
    DependenciesDown,
    HealthReport,
)
from tessera.shared.http.di import FromDishka, inject
from tessera.shared.http.envelope import ErrorEnvelope


class Liveness(msgspec.Struct):
    status: str
    timestamp: datetime  # ISO 8601 in UTC, to the second, as everywhere


class Readiness(msgspec.Struct):
    status: str
    timestamp: datetime
    checks: dict[str, str]


class ModuleStatus(msgspec.Struct, omit_defaults=True):
    status: str
    module: str
    timestamp: datetime
    details: dict[str, Any] | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _checks(report: HealthReport) -> dict[str, str]:
    return {m.module: "healthy" if m.healthy else "unhealthy" for m in report.modules}


def _require_healthy(report: HealthReport) -> None:
    if not report.healthy:
        failing = report.failing
        raise DependenciesDown(
            f"Unavailable: {', '.join(failing)}.",
            details={"failing": failing, "checks": _checks(report), "problems": report.problems},
        )


_UNAVAILABLE = {
    503: ResponseSpec(  # no made-up examples (random, and other in every document)
        ErrorEnvelope,
        description="A dependency does not answer (SERVICE_UNAVAILABLE).",
        generate_examples=False,
    )
}


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/", summary="Liveness: the process answers; no dependency is asked.")
    async def live(self) -> Liveness:
        return Liveness(status="healthy", timestamp=_now())

    @get("/ready", summary="Readiness: 200 when every dependency answers.", responses=_UNAVAILABLE)
    @inject
    async def ready(self, check: FromDishka[CheckHealth]) -> Readiness:
        report = await check.execute()
        _require_healthy(report)
        return Readiness(status="healthy", timestamp=_now(), checks=_checks(report))

    @get("/{module:str}", summary="One dependency: database, cache, ...", responses=_UNAVAILABLE)
    @inject
    async def module(self, module: FromPath[str], check: FromDishka[CheckHealth]) -> ModuleStatus:
        report = await check.execute(module)
        _require_healthy(report)
        details = report.modules[0].details
        return ModuleStatus("healthy", module, _now(), details)
