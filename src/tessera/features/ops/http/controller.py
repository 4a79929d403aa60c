"""Liveness, readiness and per-module health, in the seed's shapes (SPEC §3.11)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Response, get
from litestar.params import FromPath

from tessera.features.ops.application.check_health import CheckHealth, HealthReport
from tessera.shared.http.errors import ErrorCode, error_response


class Liveness(msgspec.Struct):
    status: str
    timestamp: str


class Readiness(msgspec.Struct):
    status: str
    timestamp: str
    checks: dict[str, str]


class ModuleStatus(msgspec.Struct):
    status: str
    module: str
    timestamp: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _checks(report: HealthReport) -> dict[str, str]:
    return {m.module: "healthy" if m.healthy else "unhealthy" for m in report.modules}


def _unavailable(report: HealthReport) -> Response[Any]:
    failing = report.failing
    return error_response(
        ErrorCode.SERVICE_UNAVAILABLE,
        f"Unavailable: {', '.join(failing)}.",
        details={"failing": failing, "checks": _checks(report)},
    )


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/", summary="Liveness: the process answers; no dependency is asked.")
    async def live(self) -> Liveness:
        return Liveness(status="healthy", timestamp=_now())

    @get("/ready", summary="Readiness: 200 when every dependency answers, else 503.")
    @inject
    async def ready(self, check: FromDishka[CheckHealth]) -> Response[Any]:
        report = await check.execute()
        if not report.healthy:
            return _unavailable(report)
        return Response(Readiness(status="healthy", timestamp=_now(), checks=_checks(report)))

    @get("/{module:str}", summary="One dependency: database, cache, ...")
    @inject
    async def module(self, module: FromPath[str], check: FromDishka[CheckHealth]) -> Response[Any]:
        report = await check.execute(module)
        if not report.healthy:
            return _unavailable(report)
        return Response(ModuleStatus(status="healthy", module=module, timestamp=int(time.time())))
