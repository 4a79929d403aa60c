"""Feature flags on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from advanced_alchemy.filters import SearchFilter
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tessera.features.flags.adapters.models import FeatureFlagModel
from tessera.features.flags.application.list_flags import SORTABLE
from tessera.features.flags.domain.errors import FlagAlreadyExists
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.adapters.paging import Filter, Rows
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.pagination import Page, PageRequest

_WRITABLE = frozenset({"description", "enabled", "rollout_percentage", "tenant_ids", "user_ids"})


class _Flags(Rows[FeatureFlagModel]):
    model_type = FeatureFlagModel


def _ids(values: Iterable[uuid.UUID]) -> list[str]:
    return sorted(str(value) for value in values)


def to_entity(model: FeatureFlagModel) -> FeatureFlag:
    return FeatureFlag(
        id=model.id,
        key=model.key,
        description=model.description,
        enabled=model.enabled,
        rollout_percentage=model.rollout_percentage,
        tenant_ids=frozenset(uuid.UUID(v) for v in model.tenant_ids),
        user_ids=frozenset(uuid.UUID(v) for v in model.user_ids),
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def _column_values(flag: FeatureFlag, fields: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(flag, name)
        values[name] = _ids(value) if name in ("tenant_ids", "user_ids") else value
    return values


class SqlFlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, flag: FeatureFlag) -> None:
        """One `INSERT … ON CONFLICT (key) DO NOTHING RETURNING id`: a taken key, even in a
        race, leaves the transaction usable and needs no savepoint (which pysqlite would
        commit on release when it opens the transaction)."""
        F = FeatureFlagModel
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        values = _column_values(flag, _WRITABLE)
        statement = (
            insert(F)
            .values(
                id=flag.id,
                key=flag.key,
                created_at=flag.created_at,
                updated_at=flag.updated_at,
                **values,
            )
            .on_conflict_do_nothing(index_elements=[F.key])
            .returning(F.id)
        )
        if (await self._session.execute(statement)).scalar_one_or_none() is None:
            raise FlagAlreadyExists(field="key", details={"key": flag.key})

    async def get(self, key: str) -> FeatureFlag | None:
        query = (
            select(FeatureFlagModel)
            .where(FeatureFlagModel.key == key)
            .execution_options(populate_existing=True)  # fresh after `save` in this session
        )
        model = (await self._session.execute(query)).scalar_one_or_none()
        return None if model is None else to_entity(model)

    async def save(self, flag: FeatureFlag, fields: Collection[str]) -> bool:
        values = _column_values(flag, (name for name in fields if name in _WRITABLE))
        statement = (
            update(FeatureFlagModel)
            .where(FeatureFlagModel.key == flag.key)
            .values(**values, updated_at=flag.updated_at)
        )
        result = await self._session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount) > 0  # type: ignore[attr-defined]

    async def delete(self, key: str) -> bool:
        statement = delete(FeatureFlagModel).where(FeatureFlagModel.key == key)
        result = await self._session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount) > 0  # type: ignore[attr-defined]

    async def list(
        self, page: PageRequest, *, enabled: bool | None = None, search: str | None = None
    ) -> Page[FeatureFlag]:
        values = {} if enabled is None else {"enabled": enabled}
        found: tuple[Filter, ...] = ()
        if search:
            found = (SearchFilter("key", search, escape_wildcards=True),)
        rows = _Flags(self._session)
        models, total = await rows.page_of(
            page, _conditions, values, *found, sortable=SORTABLE, tie="key", tie_order="asc"
        )
        return Page(items=[to_entity(m) for m in models], total_items=total, request=page)


class SqlFlagSource:
    """Every flag, in a session of its own (the snapshot is loaded outside any request)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def all_flags(self) -> list[FeatureFlag]:
        try:
            async with self._session_factory() as session:
                query = select(FeatureFlagModel).order_by(FeatureFlagModel.key)
                models = (await session.execute(query)).scalars().all()
                return [to_entity(model) for model in models]
        except (OperationalError, InterfaceError, OSError) as error:
            raise DependencyUnavailable() from error


def _conditions(names: frozenset[str]) -> list[Filter]:
    return [FeatureFlagModel.enabled == bindparam("enabled")] if "enabled" in names else []
