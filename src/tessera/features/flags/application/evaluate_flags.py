from __future__ import annotations

from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.shared.domain.caller import Principal


class EvaluateFlagsForCaller:
    """Every flag's answer for the caller (`{key: bool}`), from the in-process snapshot:
    any signed-in user, whatever the role; the caller's tenant counts for tenant allow lists."""

    def __init__(self, feature_flags: FeatureFlags) -> None:
        self._feature_flags = feature_flags

    async def execute(self, principal: Principal) -> dict[str, bool]:
        return await self._feature_flags.evaluate_all(principal.user_id, principal.tenant_id)
