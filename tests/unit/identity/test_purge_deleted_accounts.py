"""The purge rule: accounts soft-deleted more than the retention ago go for good, in batches."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from tessera.features.identity.application.accounts import IdentityConfig, profile_key
from tessera.features.identity.application.ports import OneTimeTokens, UserRepository
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.domain.user import User
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.ports import Cache, Counter
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import DependencyUnavailable
from tessera.shared.domain.events import Event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Database:
    """Users, their one-time tokens and the outbox; writes wait for `commit`, as in SQL."""

    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.tokens: dict[str, uuid.UUID] = {}  # token hash -> user id
        self.events: list[Event] = []
        self.staged: list[Callable[[], object]] = []
        self.commits = self.rollbacks = 0
        self.fail_purge_call: int | None = None  # the purge call (1-based) that breaks
        self.purge_calls = 0
        self.limits: list[int] = []

    def add(self, *, deleted_at: datetime | None = None, tokens: int = 1) -> User:
        user = User.register(
            tenant_id=uuid.uuid4(),
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            full_name="A",
            role=Role.USER,
            now=NOW - 400 * DAY,
        )
        if deleted_at is not None:
            user.soft_delete(deleted_at)
        self.users[user.id] = user
        for _ in range(tokens):
            self.tokens[uuid.uuid4().hex] = user.id
        return user

    def tokens_of(self, user: User) -> int:
        return sum(owner == user.id for owner in self.tokens.values())

    # UserRepository (only what the purge uses)
    async def deleted_before(self, moment: datetime, *, limit: int) -> dict[uuid.UUID, uuid.UUID]:
        self.limits.append(limit)
        deleted = [u for u in self.users.values() if u.deleted_at and u.deleted_at < moment]
        deleted.sort(key=lambda u: (u.deleted_at, u.id))
        return {u.id: u.tenant_id for u in deleted[:limit]}

    async def purge(self, user_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        self.purge_calls += 1
        if self.purge_calls == self.fail_purge_call:
            raise RuntimeError("connection lost")
        gone = [i for i in user_ids if i in self.users and self.users[i].deleted_at is not None]
        self.staged.append(lambda: [self.users.pop(i) for i in gone])
        return gone

    # OneTimeTokens (only what the purge uses)
    async def forget_users(self, user_ids: Collection[uuid.UUID]) -> int:
        theirs = [h for h, owner in self.tokens.items() if owner in set(user_ids)]
        self.staged.append(lambda: [self.tokens.pop(h) for h in theirs])
        return len(theirs)

    # Outbox
    def record(self, event: Event) -> None:
        self.staged.append(lambda: self.events.append(event))

    # UnitOfWork
    async def commit(self) -> None:
        for change in self.staged:
            change()
        self.staged.clear()
        self.commits += 1

    async def rollback(self) -> None:
        self.staged.clear()
        self.rollbacks += 1


class FixedClock:
    def now(self) -> datetime:
        return NOW


class DownCache(InMemoryCache):
    async def delete(self, *keys: str) -> int:
        raise DependencyUnavailable()

    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        raise DependencyUnavailable()


def purge(
    db: Database, *, retention_days: int = 30, batch: int = 500, cache: Cache | None = None
) -> PurgeDeletedAccounts:
    config = IdentityConfig(
        access_ttl_seconds=900,
        refresh_ttl_seconds=86400,
        idle_ttl_seconds=3600,
        require_verified_email=False,
        public_base_url="http://app.test",
        account_retention_days=retention_days,
        purge_batch_size=batch,
    )
    users, tokens = cast(UserRepository, db), cast(OneTimeTokens, db)  # the parts used here
    return PurgeDeletedAccounts(
        users, tokens, db, cache or InMemoryCache(), db, FixedClock(), config, TenantScope()
    )


@pytest.mark.parametrize("retention_days", [1, 30])
async def test_only_accounts_deleted_more_than_the_retention_ago_are_purged(
    retention_days: int,
) -> None:
    db = Database()
    retention = retention_days * DAY
    live = db.add()
    recent = db.add(deleted_at=NOW - retention + timedelta(seconds=1))
    at_the_boundary = db.add(deleted_at=NOW - retention)
    just_past = db.add(deleted_at=NOW - retention - timedelta(microseconds=1))
    long_ago = db.add(deleted_at=NOW - 400 * DAY)

    assert await purge(db, retention_days=retention_days).execute() == 2

    assert set(db.users) == {live.id, recent.id, at_the_boundary.id}
    for kept in (live, recent, at_the_boundary):
        assert db.tokens_of(kept) == 1
    for gone in (just_past, long_ago):
        assert db.tokens_of(gone) == 0


async def test_each_purged_account_records_user_purged_with_ids_only_in_its_transaction() -> None:
    db = Database()
    old = db.add(deleted_at=NOW - 31 * DAY)
    db.add(deleted_at=NOW - 29 * DAY)
    db.add()

    assert await purge(db).execute() == 1

    [event] = db.events
    assert event.type == "user.purged"
    assert event.payload == {"user_id": str(old.id), "tenant_id": str(old.tenant_id)}
    assert event.tenant_id == old.tenant_id
    assert db.commits == 1, "the event committed with the deletion, in one transaction"


async def test_a_backlog_is_purged_in_batches_one_transaction_each_until_none_is_left() -> None:
    db = Database()
    old = [db.add(deleted_at=NOW - (40 + i) * DAY, tokens=2) for i in range(5)]
    live = db.add()

    assert await purge(db, batch=2).execute() == 5

    assert set(db.users) == {live.id}
    assert set(db.tokens.values()) == {live.id}
    assert db.commits == 3, "batches of 2, 2 and 1"
    assert set(db.limits) == {2}
    assert sorted(e.payload["user_id"] for e in db.events) == sorted(str(u.id) for u in old)
    assert await purge(db, batch=2).execute() == 0, "nothing left: idempotent"
    assert db.commits == 3


async def test_a_full_last_batch_is_followed_by_a_look_for_more() -> None:
    db = Database()
    for i in range(4):
        db.add(deleted_at=NOW - (40 + i) * DAY)

    assert await purge(db, batch=2).execute() == 4
    assert db.users == {}
    assert len(db.limits) == 3, "two full batches, then an empty look"


async def test_a_failing_batch_is_rolled_back_and_the_batches_before_it_stay_purged() -> None:
    db = Database()
    first = [db.add(deleted_at=NOW - (50 - i) * DAY) for i in range(2)]
    second = [db.add(deleted_at=NOW - (40 - i) * DAY) for i in range(2)]
    db.fail_purge_call = 2

    with pytest.raises(RuntimeError):
        await purge(db, batch=2).execute()

    assert (db.commits, db.rollbacks) == (1, 1)
    assert set(db.users) == {u.id for u in second}
    assert all(db.tokens_of(u) == 1 for u in second), "their tokens were rolled back too"
    assert [e.payload["user_id"] for e in db.events] == [str(u.id) for u in first]


async def test_the_cached_profiles_of_purged_accounts_are_dropped() -> None:
    db, cache = Database(), InMemoryCache()
    gone = db.add(deleted_at=NOW - 31 * DAY)
    kept = db.add()
    for user in (gone, kept):
        await cache.set(profile_key(user.id), b"{}", ttl_seconds=300)

    await purge(db, cache=cache).execute()

    assert await cache.get(profile_key(gone.id)) is None
    assert await cache.get(profile_key(kept.id)) == b"{}"


async def test_a_cache_outage_does_not_stop_the_purge() -> None:
    db = Database()
    for i in range(3):
        db.add(deleted_at=NOW - (40 + i) * DAY)

    assert await purge(db, batch=2, cache=DownCache()).execute() == 3
    assert db.users == {}
