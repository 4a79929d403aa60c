from __future__ import annotations

from tessera.features.flags.application.flag_admin import FlagView, require_admin
from tessera.features.flags.application.ports import FlagRepository
from tessera.features.flags.domain.errors import FlagNotFound
from tessera.features.flags.domain.flag import is_valid_key
from tessera.shared.domain.caller import Principal


class GetFlag:
    """Admin only. One flag by key; `FlagNotFound` (404) when none has it."""

    def __init__(self, flags: FlagRepository) -> None:
        self._flags = flags

    async def execute(self, principal: Principal, key: str) -> FlagView:
        require_admin(principal)
        flag = await self._flags.get(key) if is_valid_key(key) else None
        if flag is None:
            raise FlagNotFound(details={"key": key[:64]})
        return FlagView.of(flag)
