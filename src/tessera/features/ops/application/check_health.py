from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec

from tessera.features.ops.application.ports import HealthProbe
from tessera.shared.domain.errors import DependencyUnavailable, DomainError, NotFound


class UnknownModule(NotFound):
    default_message = "There is no health module of that name."


class DependenciesDown(DependencyUnavailable):
    """Some dependency did not answer; `details` lists which."""


class ModuleHealth(msgspec.Struct, frozen=True):
    module: str
    healthy: bool
    problem: str | None = None
    details: dict[str, Any] | None = None


class HealthReport(msgspec.Struct, frozen=True):
    modules: tuple[ModuleHealth, ...]

    @property
    def healthy(self) -> bool:
        return all(m.healthy for m in self.modules)

    @property
    def failing(self) -> list[str]:
        return [m.module for m in self.modules if not m.healthy]

    @property
    def problems(self) -> dict[str, str]:
        return {m.module: m.problem or "unhealthy" for m in self.modules if not m.healthy}


class CheckHealth:
    """Asks the probes at once and reports, never raising for a failed dependency.

    Rules: a probe that does not answer within `timeout` seconds is unhealthy; the report
    keeps the probes' order; asking for a module nobody probes is `UnknownModule` (404).
    The `problem` is a probe's own `DomainError` message (which names the cause, e.g. the
    mailer's "connection refused: ..."), else the kind of failure only, never addresses or
    credentials.
    """

    def __init__(self, probes: Sequence[HealthProbe], *, timeout: float = 3.0) -> None:
        self._probes = {probe.name: probe for probe in probes}
        self._timeout = timeout

    async def execute(self, module: str | None = None) -> HealthReport:
        if module is not None and module not in self._probes:
            raise UnknownModule(details={"modules": sorted(self._probes)})
        names = [module] if module is not None else list(self._probes)
        results = await asyncio.gather(*(self._ask(name) for name in names))
        return HealthReport(modules=tuple(results))

    async def _ask(self, name: str) -> ModuleHealth:
        try:
            details = await asyncio.wait_for(self._probes[name].check(), self._timeout)
        except TimeoutError:
            return ModuleHealth(name, healthy=False, problem="timed out")
        except DomainError as exc:  # a cause the adapter put in words
            return ModuleHealth(name, healthy=False, problem=exc.message)
        except Exception as exc:  # any failure of the dependency is "unhealthy"
            return ModuleHealth(name, healthy=False, problem=type(exc).__name__)
        return ModuleHealth(name, healthy=True, details=dict(details) if details else None)
