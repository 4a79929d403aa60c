"""Invitations on SQLAlchemy (PostgreSQL or SQLite)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.identity.adapters.models import InvitationModel
from tessera.features.identity.application.invitations import INVITATION_SORTABLE
from tessera.features.identity.domain.invitation import Invitation, InvitationStatus
from tessera.shared.adapters.paging import Rows
from tessera.shared.domain.caller import Role
from tessera.shared.domain.pagination import Page, PageRequest

M = InvitationModel


class _Invitations(Rows[InvitationModel]):
    model_type = InvitationModel


def _to_entity(model: InvitationModel) -> Invitation:
    return Invitation(
        id=model.id,
        tenant_id=model.tenant_id,
        email=model.email,
        role=Role(model.role),
        token_hash=model.token_hash,
        invited_by=model.invited_by,
        created_at=model.created_at,
        expires_at=model.expires_at,
        accepted_at=model.accepted_at,
        revoked_at=model.revoked_at,
    )


def _pending(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return and_(M.accepted_at.is_(None), M.revoked_at.is_(None), M.expires_at > now)


_AS_OF = "as_of_"
"""A status filter's value is the moment it is judged at, named after the status (the
statuses differ in shape, so each is a shape of its own; accepted and revoked ignore it)."""


def _conditions(names: frozenset[str]) -> list[ColumnElement[bool]]:
    """The list's conditions for the values named `names` (see `Rows.page_of`)."""
    found: list[ColumnElement[bool]] = []
    if "tenant_id" in names:
        found.append(M.tenant_id == bindparam("tenant_id"))
    for status in InvitationStatus:
        if _AS_OF + status.value in names:
            found.append(_in_status(status, bindparam(_AS_OF + status.value)))
    return found


def _in_status(
    status: InvitationStatus, now: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    match status:
        case InvitationStatus.ACCEPTED:
            return M.accepted_at.is_not(None)
        case InvitationStatus.REVOKED:
            return and_(M.accepted_at.is_(None), M.revoked_at.is_not(None))
        case InvitationStatus.EXPIRED:
            return and_(M.accepted_at.is_(None), M.revoked_at.is_(None), M.expires_at <= now)
        case InvitationStatus.PENDING:
            return _pending(now)


class SqlInvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, invitation: Invitation) -> None:
        self._session.add(
            M(
                id=invitation.id,
                tenant_id=invitation.tenant_id,
                email=invitation.email,
                role=invitation.role.value,
                token_hash=invitation.token_hash,
                invited_by=invitation.invited_by,
                created_at=invitation.created_at,
                updated_at=invitation.created_at,
                expires_at=invitation.expires_at,
            )
        )
        await self._session.flush()

    async def get(self, invitation_id: uuid.UUID) -> Invitation | None:
        model = await self._session.get(M, invitation_id)
        return None if model is None else _to_entity(model)

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        model = await self._session.scalar(select(M).where(M.token_hash == token_hash))
        return None if model is None else _to_entity(model)

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID | None, status: str | None, now: datetime
    ) -> Page[Invitation]:
        values: dict[str, object] = {}
        if tenant_id is not None:
            values["tenant_id"] = tenant_id
        if status is not None:
            values[_AS_OF + InvitationStatus(status).value] = now
        rows, total = await _Invitations(self._session).page_of(
            page, _conditions, values, sortable=INVITATION_SORTABLE
        )
        return Page(items=[_to_entity(row) for row in rows], total_items=total, request=page)

    async def revoke_pending(self, *, tenant_id: uuid.UUID, email: str, now: datetime) -> int:
        result = await self._session.execute(
            update(M)
            .where(M.tenant_id == tenant_id, M.email == email, _pending(now))
            .values(revoked_at=now, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def accept(self, invitation_id: uuid.UUID, *, now: datetime) -> bool:
        """One conditional UPDATE: of two concurrent acceptances only one matches a row."""
        result = await self._session.execute(
            update(M)
            .where(M.id == invitation_id, _pending(now))
            .values(accepted_at=now, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def save(self, invitation: Invitation) -> None:
        await self._session.execute(
            update(M)
            .where(M.id == invitation.id)
            .values(
                accepted_at=invitation.accepted_at,
                revoked_at=invitation.revoked_at,
                updated_at=max(
                    moment
                    for moment in (
                        invitation.created_at,
                        invitation.accepted_at,
                        invitation.revoked_at,
                    )
                    if moment is not None
                ),
            ),
            execution_options={"synchronize_session": False},
        )
