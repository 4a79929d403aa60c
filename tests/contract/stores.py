"""Where a repository contract runs: a database migrated to head (SQLite, PostgreSQL), or
the fakes of tests/fakes, which must keep the same contract so use-case tests on them mean
something. `Store.unit()` is one unit of work, as a request has: what it does not commit
is gone when it ends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.files.adapters.sql_files import SqlFileRepository
from tessera.features.files.application.ports import FileRepository
from tessera.features.flags.adapters.sql_flags import SqlFlagRepository, SqlFlagSource
from tessera.features.flags.application.ports import FlagRepository, FlagSource
from tessera.features.identity.adapters.sql_invitations import SqlInvitationRepository
from tessera.features.identity.adapters.sql_mfa import SqlMfaCredentials
from tessera.features.identity.adapters.sql_passkeys import SqlPasskeyRepository
from tessera.features.identity.adapters.sql_users import (
    SqlOneTimeTokens,
    SqlUserRepository,
    user_search,
)
from tessera.features.identity.application.ports import (
    InvitationRepository,
    MfaCredentials,
    OneTimeTokens,
    PasskeyRepository,
    TenantDirectory,
    UserRepository,
    UserSearch,
)
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.features.tenancy.application.ports import TenantRepository
from tessera.shared.adapters.database import SqlAlchemyUnitOfWork, session_factory
from tessera.shared.adapters.outbox import OutboxModel, SqlOutbox
from tessera.shared.application.ports import Outbox, UnitOfWork
from tessera.shared.application.tenant_scope import TenantScope
from tests.fakes.files import FakeFileRepository
from tests.fakes.flags import FakeFlagRepository, FakeFlagSource
from tests.fakes.identity import (
    FakeInvitationRepository,
    FakeOneTimeTokens,
    FakePasskeyRepository,
    FakeTenantDirectory,
    FakeUserRepository,
    FakeUserSearch,
)
from tests.fakes.mfa import FakeMfaCredentials
from tests.fakes.tenancy import FakeTenantRepository
from tests.fakes.unit_of_work import FakeUnitOfWork, RecordingOutbox


@dataclass(frozen=True)
class Unit:
    """The repositories of one unit of work, and the unit of work itself."""

    tenants: TenantDirectory
    tenancy: TenantRepository
    users: UserRepository
    search: UserSearch
    tokens: OneTimeTokens
    invitations: InvitationRepository
    flags: FlagRepository
    files: FileRepository
    passkeys: PasskeyRepository
    outbox: Outbox
    work: UnitOfWork
    mfa: MfaCredentials

    async def commit(self) -> None:
        await self.work.commit()


class Store(Protocol):
    kind: str

    def unit(self) -> AbstractAsyncContextManager[Unit]: ...

    def flag_source(self) -> FlagSource: ...

    async def published(self) -> set[uuid.UUID]:
        """The ids of the events whose unit of work committed."""
        ...


class SqlStore:
    def __init__(self, kind: str, engine: AsyncEngine) -> None:
        self.kind, self.engine = kind, engine
        scope = TenantScope()
        scope.across_tenants("contract tests")
        self._search = user_search(engine, session_factory(engine), scope)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with AsyncSession(self.engine) as session:
            users, tenants = SqlUserRepository(session), SqlTenantRepository(session)
            yield Unit(
                tenants,
                tenants,
                users,
                self._search,
                SqlOneTimeTokens(session),
                SqlInvitationRepository(session),
                SqlFlagRepository(session),
                SqlFileRepository(session),
                SqlPasskeyRepository(session),
                SqlOutbox(session),
                SqlAlchemyUnitOfWork(session),
                SqlMfaCredentials(session),
            )

    def flag_source(self) -> FlagSource:
        return SqlFlagSource(async_sessionmaker(self.engine, expire_on_commit=False))

    async def published(self) -> set[uuid.UUID]:
        async with AsyncSession(self.engine) as session:
            return set((await session.execute(select(OutboxModel.id))).scalars())


class FakeStore:
    """The fakes over one `FakeUnitOfWork` standing for the database: each unit rolls back
    what it left uncommitted when it ends."""

    kind = "fake"

    def __init__(self) -> None:
        self._work = FakeUnitOfWork()
        self._flags = FakeFlagRepository(self._work)
        users, tenants = FakeUserRepository(self._work), FakeTenantRepository(self._work)
        self._outbox = RecordingOutbox(self._work)
        self._unit = Unit(
            FakeTenantDirectory(tenants),
            tenants,
            users,
            FakeUserSearch(users),
            FakeOneTimeTokens(self._work),
            FakeInvitationRepository(self._work),
            self._flags,
            FakeFileRepository(self._work),
            FakePasskeyRepository(self._work),
            self._outbox,
            self._work,
            FakeMfaCredentials(self._work),
        )

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        try:
            yield self._unit
        finally:
            await self._work.rollback()

    def flag_source(self) -> FlagSource:
        return FakeFlagSource(self._flags)

    async def published(self) -> set[uuid.UUID]:
        return {event.id for event in self._outbox.events}
