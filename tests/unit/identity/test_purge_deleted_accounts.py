"""The purge rule: accounts soft-deleted more than the retention ago go for good, in batches."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.identity.application.accounts import IdentityConfig, profile_key
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.domain.user import User
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.ports import Cache, Counter
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import DependencyUnavailable
from tests.fakes.clock import FakeClock
from tests.fakes.identity import FakeOneTimeTokens, FakeUserRepository
from tests.fakes.unit_of_work import FakeUnitOfWork, RecordingOutbox

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class BreakingUsers(FakeUserRepository):
    """Users whose `purge` call number `fail_purge_call` (1-based) loses the connection."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        super().__init__(unit_of_work)
        self.fail_purge_call: int | None = None
        self._purge_calls = 0

    async def purge(self, user_ids: Collection[uuid.UUID]) -> Collection[uuid.UUID]:
        self._purge_calls += 1
        if self._purge_calls == self.fail_purge_call:
            raise RuntimeError("connection lost")
        return await super().purge(user_ids)


class Database:
    """The fakes the purge works on, sharing one unit of work."""

    def __init__(self) -> None:
        self.unit_of_work = FakeUnitOfWork()
        self.users = BreakingUsers(self.unit_of_work)
        self.tokens = FakeOneTimeTokens(self.unit_of_work)
        self.outbox = RecordingOutbox(self.unit_of_work)

    async def add(self, *, deleted_at: datetime | None = None, tokens: int = 1) -> User:
        user = User.register(
            tenant_id=uuid.uuid4(),
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            full_name="A",
            role=Role.USER,
            now=NOW - 400 * DAY,
        )
        await self.users.add(user)
        if deleted_at is not None:
            user.soft_delete(deleted_at)
            await self.users.save(user)
        for purpose in ("password_reset", "verify_email")[:tokens]:
            expires = NOW + DAY
            digest = uuid.uuid4().hex
            await self.tokens.issue(
                user=user, purpose=purpose, token_hash=digest, expires_at=expires, now=NOW
            )
        await self.unit_of_work.commit()
        self.unit_of_work.commits = 0
        return user

    def user_ids(self) -> set[uuid.UUID]:
        return set(self.users.rows.committed())

    def tokens_of(self, user: User) -> int:
        return sum(t.user_id == user.id for t in self.tokens.rows.committed().values())


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
    return PurgeDeletedAccounts(
        db.users,
        db.tokens,
        db.outbox,
        cache or InMemoryCache(),
        db.unit_of_work,
        FakeClock(NOW),
        config,
        TenantScope(),
    )


@pytest.mark.parametrize("retention_days", [1, 30])
async def test_only_accounts_deleted_more_than_the_retention_ago_are_purged(
    retention_days: int,
) -> None:
    db = Database()
    retention = retention_days * DAY
    live = await db.add()
    recent = await db.add(deleted_at=NOW - retention + timedelta(seconds=1))
    at_the_boundary = await db.add(deleted_at=NOW - retention)
    just_past = await db.add(deleted_at=NOW - retention - timedelta(microseconds=1))
    long_ago = await db.add(deleted_at=NOW - 400 * DAY)

    assert await purge(db, retention_days=retention_days).execute() == 2

    assert db.user_ids() == {live.id, recent.id, at_the_boundary.id}
    for kept in (live, recent, at_the_boundary):
        assert db.tokens_of(kept) == 1
    for gone in (just_past, long_ago):
        assert db.tokens_of(gone) == 0


async def test_each_purged_account_records_user_purged_with_ids_only_in_its_transaction() -> None:
    db = Database()
    old = await db.add(deleted_at=NOW - 31 * DAY)
    await db.add(deleted_at=NOW - 29 * DAY)
    await db.add()

    assert await purge(db).execute() == 1

    [event] = db.outbox.events
    assert event.type == "user.purged"
    assert event.payload == {"user_id": str(old.id), "tenant_id": str(old.tenant_id)}
    assert event.tenant_id == old.tenant_id
    assert db.unit_of_work.commits == 1, "the event committed with the deletion, in one transaction"


async def test_a_backlog_is_purged_in_batches_one_transaction_each_until_none_is_left() -> None:
    db = Database()
    old = [await db.add(deleted_at=NOW - (40 + i) * DAY, tokens=2) for i in range(5)]
    live = await db.add()

    assert await purge(db, batch=2).execute() == 5

    assert db.user_ids() == {live.id}
    assert {t.user_id for t in db.tokens.rows.committed().values()} == {live.id}
    assert db.unit_of_work.commits == 3, "batches of 2, 2 and 1"
    assert sorted(e.payload["user_id"] for e in db.outbox.events) == sorted(str(u.id) for u in old)
    assert await purge(db, batch=2).execute() == 0, "nothing left: idempotent"
    assert db.unit_of_work.commits == 3


async def test_a_full_last_batch_is_followed_by_a_look_for_more() -> None:
    db = Database()
    for i in range(4):
        await db.add(deleted_at=NOW - (40 + i) * DAY)

    assert await purge(db, batch=2).execute() == 4
    assert db.user_ids() == set()


async def test_a_failing_batch_is_rolled_back_and_the_batches_before_it_stay_purged() -> None:
    db = Database()
    first = [await db.add(deleted_at=NOW - (50 - i) * DAY) for i in range(2)]
    second = [await db.add(deleted_at=NOW - (40 - i) * DAY) for i in range(2)]
    db.users.fail_purge_call = 2

    with pytest.raises(RuntimeError):
        await purge(db, batch=2).execute()

    assert db.unit_of_work.commits == 1
    assert db.user_ids() == {u.id for u in second}
    assert all(db.tokens_of(u) == 1 for u in second), "their tokens were rolled back too"
    assert dict(db.tokens.rows) == db.tokens.rows.committed(), "nothing left pending"
    assert [e.payload["user_id"] for e in db.outbox.events] == [str(u.id) for u in first]


async def test_the_cached_profiles_of_purged_accounts_are_dropped() -> None:
    db, cache = Database(), InMemoryCache()
    gone = await db.add(deleted_at=NOW - 31 * DAY)
    kept = await db.add()
    for user in (gone, kept):
        await cache.set(profile_key(user.id), b"{}", ttl_seconds=300)

    await purge(db, cache=cache).execute()

    assert await cache.get(profile_key(gone.id)) is None
    assert await cache.get(profile_key(kept.id)) == b"{}"


async def test_a_cache_outage_does_not_stop_the_purge() -> None:
    db = Database()
    for i in range(3):
        await db.add(deleted_at=NOW - (40 + i) * DAY)

    assert await purge(db, batch=2, cache=DownCache()).execute() == 3
    assert db.user_ids() == set()
