"""Users and one-time tokens on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from advanced_alchemy.filters import SearchFilter
from asyncpg import Record
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.identity.adapters.models import OneTimeTokenModel, UserModel
from tessera.features.identity.application.ports import USER_SORT_FIELDS, UserFilter, UserSearch
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.user import User
from tessera.shared.adapters.database import scoped_session
from tessera.shared.adapters.driver_reads import DriverReads, driver_reads_for
from tessera.shared.adapters.paging import Filter, Rows, page_of_records
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import Page, PageRequest

_FIELDS = (
    "email",
    "password_hash",
    "full_name",
    "avatar_url",
    "is_verified",
    "is_active",
    "role",
    "deleted_at",
    "updated_at",
)


def is_unique_violation(error: IntegrityError) -> bool:
    """asyncpg reports a unique violation as a plain IntegrityError: look at sqlstate."""
    original = getattr(error.orig, "__cause__", None) or error.orig
    return getattr(original, "sqlstate", None) == "23505" or "UNIQUE" in str(error.orig)


def to_entity(model: UserModel) -> User:
    return User(
        id=model.id,
        tenant_id=model.tenant_id,
        email=model.email,
        password_hash=model.password_hash,
        full_name=model.full_name,
        role=Role(model.role),
        created_at=model.created_at,
        updated_at=model.updated_at,
        avatar_url=model.avatar_url,
        is_verified=model.is_verified,
        is_active=model.is_active,
        deleted_at=model.deleted_at,
    )


def from_entity(user: User) -> UserModel:
    return UserModel(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        password_hash=user.password_hash,
        full_name=user.full_name,
        role=user.role.value,
        created_at=user.created_at,
        updated_at=user.updated_at,
        avatar_url=user.avatar_url,
        is_verified=user.is_verified,
        is_active=user.is_active,
        deleted_at=user.deleted_at,
    )


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        self._session.add(from_entity(user))
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError as error:
            if is_unique_violation(error):
                raise EmailAlreadyRegistered(field="email") from None
            raise

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self._one(UserModel.id == user_id)

    async def by_email(self, email: str) -> User | None:
        return await self._one(UserModel.email == email)

    async def save(self, user: User) -> None:
        values = {name: getattr(user, name) for name in user.changed if name in _FIELDS}
        if "role" in values:
            values["role"] = user.role.value
        if values:
            statement = update(UserModel).where(UserModel.id == user.id).values(**values)
            await self._session.execute(statement, execution_options={"synchronize_session": False})
        user.changed.clear()

    async def deleted_before(self, moment: datetime, *, limit: int) -> dict[uuid.UUID, uuid.UUID]:
        U = UserModel
        query = (
            select(U.id, U.tenant_id)
            .where(U.deleted_at.is_not(None), U.deleted_at < moment)
            .order_by(U.deleted_at, U.id)
            .limit(limit)
        )
        return dict((await self._session.execute(query)).tuples().all())

    async def purge(self, user_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        if not user_ids:
            return []
        U = UserModel
        gone = delete(U).where(U.id.in_(list(user_ids)), U.deleted_at.is_not(None)).returning(U.id)
        result = await self._session.execute(gone, execution_options={"synchronize_session": False})
        return list(result.scalars())

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        users = _Users(self._session)
        values = _values(where)
        search = _search(where.search) if where.search else ()
        models, total = await users.page_of(
            page, _conditions, values, *search, sortable=USER_SORT_FIELDS
        )
        return Page([to_entity(model) for model in models], total, page)

    async def _one(self, condition: object) -> User | None:
        query = select(UserModel).where(condition, UserModel.deleted_at.is_(None))  # type: ignore[arg-type]
        model = (await self._session.execute(query)).scalar_one_or_none()
        return None if model is None else to_entity(model)


def user_search(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession], scope: TenantScope
) -> UserSearch:
    """`UserSearch` in `scope`: asyncpg's own on PostgreSQL, a session's elsewhere."""
    reads = driver_reads_for(engine, scope)
    return SqlUserSearch(factory, scope) if reads is None else DriverUserSearch(reads)


class SqlUserSearch:
    """`UserSearch` on a session of its own for each page, in the tenant scope: what
    `DriverUserSearch` does, where asyncpg is not the driver (SQLite)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], scope: TenantScope) -> None:
        self._factory = factory
        self._scope = scope

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        async with scoped_session(self._factory, self._scope) as session:
            return await SqlUserRepository(session).find(where, page)


class DriverUserSearch:
    """`UserSearch` on PostgreSQL through `DriverReads`: the same statements as
    `SqlUserRepository.find`, run by asyncpg, in the request's tenant scope, on committed
    rows (decision record 0015)."""

    def __init__(self, reads: DriverReads) -> None:
        self._reads = reads

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        search = _search(where.search) if where.search else ()
        query = _Users.page_query(
            page, _conditions, _values(where), *search, sortable=USER_SORT_FIELDS
        )
        records, total = await page_of_records(self._reads, query)
        return Page([from_record(record) for record in records], total, page)


def from_record(row: Record) -> User:
    """A user from a row of the users table as asyncpg reads it."""
    return User(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        password_hash=row["password_hash"],
        full_name=row["full_name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        avatar_url=row["avatar_url"],
        is_verified=row["is_verified"],
        is_active=row["is_active"],
        deleted_at=row["deleted_at"],
    )


class _Users(Rows[UserModel]):
    model_type = UserModel


def _values(where: UserFilter) -> dict[str, object]:
    """The filter's values by the names `_conditions` binds them to; None filters nothing."""
    given = {
        "tenant_id": where.tenant_id,
        "is_active": where.is_active,
        "is_verified": where.is_verified,
        "role": None if where.role is None else where.role.value,
        "created_after": where.created_after,
        "created_before": where.created_before,
    }
    return {name: value for name, value in given.items() if value is not None}


def _conditions(names: frozenset[str]) -> list[Filter]:
    U = UserModel
    found: list[Filter] = [U.deleted_at.is_(None)]
    if "tenant_id" in names:
        found.append(U.tenant_id == bindparam("tenant_id"))
    if "is_active" in names:
        found.append(U.is_active == bindparam("is_active"))
    if "is_verified" in names:
        found.append(U.is_verified == bindparam("is_verified"))
    if "role" in names:
        found.append(U.role == bindparam("role"))
    if "created_after" in names:
        found.append(U.created_at >= bindparam("created_after"))
    if "created_before" in names:
        found.append(U.created_at < bindparam("created_before"))
    return found


def _search(text: str) -> tuple[Filter]:
    fields = {"email", "full_name"}
    return (SearchFilter(fields, text, ignore_case=True, escape_wildcards=True),)


class SqlOneTimeTokens:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def issue(
        self, *, user: User, purpose: str, token_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        T = OneTimeTokenModel
        earlier = update(T).where(T.user_id == user.id, T.purpose == purpose, T.used_at.is_(None))
        await self._session.execute(
            earlier.values(used_at=now), execution_options={"synchronize_session": False}
        )
        self._session.add(
            T(
                tenant_id=user.tenant_id,
                user_id=user.id,
                purpose=purpose,
                token_hash=token_hash,
                expires_at=expires_at,
            )
        )

    async def prune(self, *, before: datetime) -> int:
        T = OneTimeTokenModel
        spent = delete(T).where(or_(T.expires_at < before, T.used_at < before))
        result = await self._session.execute(
            spent, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_users(self, user_ids: Collection[uuid.UUID]) -> int:
        if not user_ids:
            return 0
        T = OneTimeTokenModel
        theirs = delete(T).where(T.user_id.in_(list(user_ids)))
        result = await self._session.execute(
            theirs, execution_options={"synchronize_session": False}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def consume(self, *, purpose: str, token_hash: str, now: datetime) -> uuid.UUID | None:
        T = OneTimeTokenModel
        used = (
            update(T)
            .where(
                T.token_hash == token_hash,
                T.purpose == purpose,
                T.used_at.is_(None),
                T.expires_at > now,
            )
            .values(used_at=now)
            .returning(T.user_id)
        )
        result = await self._session.execute(used, execution_options={"synchronize_session": False})
        return result.scalar_one_or_none()


class SqlUserLookup:
    """`UserLookup`: a session of its own for each read, in the tenant's scope (row-level
    security on PostgreSQL), closed as soon as the read is done."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory

    async def get(self, user_id: uuid.UUID, *, tenant_id: uuid.UUID) -> User | None:
        scope = TenantScope()
        scope.enter(tenant_id)
        async with scoped_session(self._factory, scope) as session:
            return await SqlUserRepository(session).get(user_id)
