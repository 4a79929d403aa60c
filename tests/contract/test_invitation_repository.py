"""`InvitationRepository` on SQLite, PostgreSQL and the fake: lookups, status filters,
replacing pending invitations, and acceptance that happens once even when two race for it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from tessera.features.identity.domain.invitation import Invitation, InvitationStatus
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import Page, PageRequest, SortOrder
from tests.contract.stores import Store

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
PAGE = PageRequest(page=1, limit=50, sort="created_at", order="asc")


async def a_tenant(store: Store) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with store.unit() as unit:
        await unit.tenants.create(tenant_id=tenant, name="T")
        await unit.commit()
    return tenant


async def stored(store: Store, tenant: uuid.UUID, email: str, *, at: datetime = NOW) -> Invitation:
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
    async with store.unit() as unit:
        await unit.invitations.add(invitation)
        await unit.commit()
    return invitation


async def test_an_invitation_reads_back_by_id_and_by_token_hash(store: Store) -> None:
    tenant = await a_tenant(store)
    invitation = await stored(store, tenant, "a@example.com")
    async with store.unit() as unit:
        assert await unit.invitations.get(invitation.id) == invitation
        assert await unit.invitations.get(uuid.uuid4()) is None
        assert await unit.invitations.by_token_hash(invitation.token_hash) == invitation
        assert await unit.invitations.by_token_hash("0" * 64) is None


async def test_status_filters_and_tenant_scoping(store: Store) -> None:
    tenant, other = await a_tenant(store), await a_tenant(store)
    pending = await stored(store, tenant, "p@example.com")
    expired = await stored(store, tenant, "e@example.com", at=NOW - timedelta(days=8))
    revoked = await stored(store, tenant, "r@example.com")
    accepted = await stored(store, tenant, "a@example.com")
    foreign = await stored(store, other, "f@example.com")
    async with store.unit() as unit:
        repository = unit.invitations
        revoked.revoke(NOW)
        await repository.save(revoked)
        assert await repository.accept(accepted.id, now=NOW)
        await unit.commit()
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
    store: Store,
) -> None:
    tenant = await a_tenant(store)
    made = [await stored(store, tenant, f"{n}@example.com") for n in range(3)]
    ids = sorted(invitation.id for invitation in made)  # one created_at: only ids tell apart

    async with store.unit() as unit:

        async def listed(page: int, order: SortOrder) -> Page[Invitation]:
            request = PageRequest(page=page, limit=2, sort="created_at", order=order)
            return await unit.invitations.list(request, tenant_id=tenant, status=None, now=NOW)

        orders: list[tuple[SortOrder, list[uuid.UUID]]] = [("asc", ids), ("desc", ids[::-1])]
        for order, expected in orders:
            pages = [await listed(n, order) for n in (1, 2)]
            assert [i.id for page in pages for i in page.items] == expected
            assert [page.total_items for page in pages] == [3, 3]
        beyond = await listed(5, "asc")
        assert (list(beyond.items), beyond.total_items) == ([], 3)


async def test_pages_sort_by_email_or_expiry(store: Store) -> None:
    tenant = await a_tenant(store)
    early = await stored(store, tenant, "c@example.com", at=NOW - timedelta(days=1))
    late = [await stored(store, tenant, f"{n}@example.com") for n in ("b", "a")]

    async def order_of(sort: str, order: SortOrder) -> list[uuid.UUID]:
        request = PageRequest(page=1, limit=50, sort=sort, order=order)
        async with store.unit() as unit:
            page = await unit.invitations.list(request, tenant_id=tenant, status=None, now=NOW)
        return [i.id for i in page.items]

    by_email = [late[1].id, late[0].id, early.id]
    assert await order_of("email", "asc") == by_email
    assert await order_of("email", "desc") == by_email[::-1]
    assert await order_of("expires_at", "asc") == [early.id, *sorted(i.id for i in late)]
    assert await order_of("expires_at", "desc") == [*sorted(i.id for i in late)[::-1], early.id]


async def test_revoke_pending_replaces_only_that_tenants_pending_invitations_of_the_email(
    store: Store,
) -> None:
    tenant, elsewhere = await a_tenant(store), await a_tenant(store)
    mine = await stored(store, tenant, "x@example.com")
    theirs = await stored(store, elsewhere, "x@example.com")
    other = await stored(store, tenant, "y@example.com")
    async with store.unit() as unit:
        revoked = await unit.invitations.revoke_pending(
            tenant_id=tenant, email="x@example.com", now=NOW
        )
        assert revoked == 1
        await unit.commit()
    revoked_at = {i.id: await revoked_at_of(store, i.id) for i in (mine, theirs, other)}
    assert revoked_at == {mine.id: NOW, theirs.id: None, other.id: None}


async def revoked_at_of(store: Store, invitation_id: uuid.UUID) -> object:
    async with store.unit() as unit:
        found = await unit.invitations.get(invitation_id)
    assert found is not None
    return found.revoked_at


async def test_changes_are_kept_only_when_committed(store: Store) -> None:
    tenant = await a_tenant(store)
    invitation = await stored(store, tenant, "undo@example.com")
    async with store.unit() as unit:
        assert await unit.invitations.accept(invitation.id, now=NOW)
    async with store.unit() as unit:
        await unit.invitations.revoke_pending(tenant_id=tenant, email=invitation.email, now=NOW)
    async with store.unit() as unit:
        found = await unit.invitations.get(invitation.id)
    assert found is not None
    assert found.status(NOW) is InvitationStatus.PENDING


async def test_acceptance_happens_once_and_never_after_expiry_or_revocation(
    store: Store,
) -> None:
    tenant = await a_tenant(store)
    invitation = await stored(store, tenant, "race@example.com")

    async def accept() -> bool:
        async with store.unit() as unit:
            won = await unit.invitations.accept(invitation.id, now=NOW)
            await unit.commit()
            return won

    results = await asyncio.gather(accept(), accept(), accept())
    assert sorted(results) == [False, False, True]
    async with store.unit() as unit:
        assert not await unit.invitations.accept(uuid.uuid4(), now=NOW)
    late = await stored(store, tenant, "late@example.com")
    async with store.unit() as unit:
        assert not await unit.invitations.accept(late.id, now=late.expires_at)
        late.revoke(NOW)
        await unit.invitations.save(late)
        assert not await unit.invitations.accept(late.id, now=NOW)
