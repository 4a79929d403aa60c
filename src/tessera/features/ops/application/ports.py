from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class HealthProbe(Protocol):
    """One dependency that can say whether it answers right now.

    `name` is the module of `/health/{module}` (`database`, `cache`, ...). `check` returns
    when the dependency answers, optionally with figures worth showing (queue depths), and
    raises anything when it does not; it need not enforce a timeout (the caller does) and
    must not change any state.
    """

    @property
    def name(self) -> str: ...

    async def check(self) -> Mapping[str, Any] | None: ...


class MetricsReport(Protocol):
    """The metrics text of every worker of this server, current as of the call.

    `content_type` names its format (Prometheus text exposition); `render` never fails for
    lack of traffic (an idle server has a report too) and changes no counter.
    """

    @property
    def content_type(self) -> str: ...

    def render(self) -> bytes: ...
