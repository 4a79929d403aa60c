"""`SqlInvitationRepository` on SQLite and PostgreSQL: lookups, status filters, replacing
pending invitations, and acceptance that happens once even when two race for it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.identity.adapters.sql_invitations import SqlInvitationRepository
from tessera.features.identity.domain.invitation import Invitation, InvitationStatus
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import Page, PageRequest, SortOrder

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
PAGE = PageRequest(page=1, limit=50, sort="created_at", order="asc")


async def a_tenant(engine: AsyncEngine) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await session.commit()
    return tenant


async def stored(
    engine: AsyncEngine, tenant: uuid.UUID, email: str, *, at: datetime = NOW
) -> Invitation:
    invitation = Invitation.issue(
        tenant_id=tenant,
        email=email,
        role=Role.USER,
        token_hash=uuid.uuid4().hex * 2,
        invited_by=uuid.uuid4(),
        inviter_role=Role.ADMIN,
        now=at,
    )
    invitation.invited_by = None  # no such user row; the column is nullable
    async with AsyncSession(engine) as session:
        await SqlInvitationRepository(session).add(invitation)
        await session.commit()
    return invitation


async def test_an_invitation_reads_back_by_id_and_by_token_hash(
    migrated_engine: AsyncEngine,
) -> None:
    tenant = await a_tenant(migrated_engine)
    invitation = await stored(migrated_engine, tenant, "a@example.com")
    async with AsyncSession(migrated_engine) as session:
        repository = SqlInvitationRepository(session)
        assert await repository.get(invitation.id) == invitation
        assert await repository.by_token_hash(invitation.token_hash) == invitation
        assert await repository.by_token_hash("0" * 64) is None


async def test_status_filters_and_tenant_scoping(migrated_engine: AsyncEngine) -> None:
    tenant, other = await a_tenant(migrated_engine), await a_tenant(migrated_engine)
    pending = await stored(migrated_engine, tenant, "p@example.com")
    expired = await stored(migrated_engine, tenant, "e@example.com", at=NOW - timedelta(days=8))
    revoked = await stored(migrated_engine, tenant, "r@example.com")
    accepted = await stored(migrated_engine, tenant, "a@example.com")
    foreign = await stored(migrated_engine, other, "f@example.com")
    async with AsyncSession(migrated_engine) as session:
        repository = SqlInvitationRepository(session)
        revoked.revoke(NOW)
        await repository.save(revoked)
        assert await repository.accept(accepted.id, now=NOW)
        await session.commit()
        expected = {
            InvitationStatus.PENDING: [pending.id],
            InvitationStatus.EXPIRED: [expired.id],
            InvitationStatus.REVOKED: [revoked.id],
            InvitationStatus.ACCEPTED: [accepted.id],
        }
        for status, ids in expected.items():
            page = await repository.list(PAGE, tenant_id=tenant, status=status.value, now=NOW)
            assert [i.id for i in page.items] == ids, status
        everything = await repository.list(PAGE, tenant_id=None, status=None, now=NOW)
        assert foreign.id in {i.id for i in everything.items}
        assert everything.total_items == 5
        own = await repository.list(PAGE, tenant_id=tenant, status=None, now=NOW)
        assert own.total_items == 4


async def test_pages_break_ties_by_id_and_a_page_past_the_last_still_counts_every_match(
    migrated_engine: AsyncEngine,
) -> None:
    tenant = await a_tenant(migrated_engine)
    made = [await stored(migrated_engine, tenant, f"{n}@example.com") for n in range(3)]
    ids = sorted(invitation.id for invitation in made)  # one created_at: only ids tell apart

    async with AsyncSession(migrated_engine) as session:
        repository = SqlInvitationRepository(session)

        async def listed(page: int, order: SortOrder) -> Page[Invitation]:
            request = PageRequest(page=page, limit=2, sort="created_at", order=order)
            return await repository.list(request, tenant_id=tenant, status=None, now=NOW)

        orders: list[tuple[SortOrder, list[uuid.UUID]]] = [("asc", ids), ("desc", ids[::-1])]
        for order, expected in orders:
            pages = [await listed(n, order) for n in (1, 2)]
            assert [i.id for page in pages for i in page.items] == expected
            assert [page.total_items for page in pages] == [3, 3]
        beyond = await listed(5, "asc")
        assert (list(beyond.items), beyond.total_items) == ([], 3)


async def test_revoke_pending_replaces_only_that_tenants_pending_invitations_of_the_email(
    migrated_engine: AsyncEngine,
) -> None:
    tenant, elsewhere = await a_tenant(migrated_engine), await a_tenant(migrated_engine)
    mine = await stored(migrated_engine, tenant, "x@example.com")
    theirs = await stored(migrated_engine, elsewhere, "x@example.com")
    other = await stored(migrated_engine, tenant, "y@example.com")
    async with AsyncSession(migrated_engine) as session:
        repository = SqlInvitationRepository(session)
        assert (
            await repository.revoke_pending(tenant_id=tenant, email="x@example.com", now=NOW) == 1
        )
        await session.commit()
        revoked_at = {i.id: await revoked_at_of(repository, i.id) for i in (mine, theirs, other)}
    assert revoked_at == {mine.id: NOW, theirs.id: None, other.id: None}


async def revoked_at_of(repository: SqlInvitationRepository, invitation_id: uuid.UUID) -> object:
    found = await repository.get(invitation_id)
    assert found is not None
    return found.revoked_at


async def test_acceptance_happens_once_and_never_after_expiry_or_revocation(
    migrated_engine: AsyncEngine,
) -> None:
    tenant = await a_tenant(migrated_engine)
    invitation = await stored(migrated_engine, tenant, "race@example.com")

    async def accept() -> bool:
        async with AsyncSession(migrated_engine) as session:
            won = await SqlInvitationRepository(session).accept(invitation.id, now=NOW)
            await session.commit()
            return won

    results = await asyncio.gather(accept(), accept(), accept())
    assert sorted(results) == [False, False, True]
    late = await stored(migrated_engine, tenant, "late@example.com")
    async with AsyncSession(migrated_engine) as session:
        repository = SqlInvitationRepository(session)
        assert not await repository.accept(late.id, now=late.expires_at)
        late.revoke(NOW)
        await repository.save(late)
        assert not await repository.accept(late.id, now=NOW)
