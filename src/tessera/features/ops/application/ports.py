from __future__ import annotations

from typing import Protocol


class HealthProbe(Protocol):
    """One dependency that can say whether it answers right now.

    `name` is the module of `/health/{module}` (`database`, `cache`, ...). `check` returns
    when the dependency answers and raises anything when it does not; it need not enforce a
    timeout (the caller does) and must not change any state.
    """

    @property
    def name(self) -> str: ...

    async def check(self) -> None: ...
