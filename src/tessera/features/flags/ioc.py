from __future__ import annotations

from dishka import Provider, Scope, provide, provide_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tessera.features.flags.adapters.sql_flags import SqlFlagRepository, SqlFlagSource
from tessera.features.flags.application.create_flag import CreateFlag
from tessera.features.flags.application.delete_flag import DeleteFlag
from tessera.features.flags.application.evaluate_flags import EvaluateFlagsForCaller
from tessera.features.flags.application.feature_flags import FeatureFlags
from tessera.features.flags.application.get_flag import GetFlag
from tessera.features.flags.application.list_flags import ListFlags
from tessera.features.flags.application.ports import FlagRepository, FlagSource
from tessera.features.flags.application.update_flag import UpdateFlag
from tessera.shared.application.ports import Cache


class FlagsProvider(Provider):
    """Feature flags: the repository per request, one `FeatureFlags` snapshot per process."""

    flags = provide(SqlFlagRepository, provides=FlagRepository, scope=Scope.REQUEST)
    use_cases = provide_all(
        CreateFlag,
        ListFlags,
        GetFlag,
        UpdateFlag,
        DeleteFlag,
        EvaluateFlagsForCaller,
        scope=Scope.REQUEST,
    )

    @provide(scope=Scope.APP)
    def source(self, session_factory: async_sessionmaker[AsyncSession]) -> FlagSource:
        return SqlFlagSource(session_factory)

    @provide(scope=Scope.APP)
    def feature_flags(self, source: FlagSource, cache: Cache) -> FeatureFlags:
        return FeatureFlags(source, cache)
