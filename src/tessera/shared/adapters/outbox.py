"""The `outbox` table, and the `Outbox` port that records events into it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import Index, String, Text, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import COMMITTED_EVENTS, Base, Timestamped
from tessera.shared.domain.events import Event

PENDING, DONE, DEAD = "pending", "done", "dead"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxModel(Timestamped, Base):
    """One event, and the job it causes: pending until a worker finishes it (done) or it
    fails for good (dead). See `SqlJobStore` for the leases."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "available_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_status", "status"),
    )

    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonB)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, server_default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    available_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), default=_utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class SqlOutbox:
    """`Outbox` on the request's session: the row commits or rolls back with the change.

    The ids are also noted on the session, so the unit of work can tell the relay what
    to hand over right after a successful commit.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def record(self, event: Event) -> None:
        self._session.add(
            OutboxModel(
                id=event.id,
                event_type=event.type,
                payload=event.payload,
                tenant_id=event.tenant_id,
                available_at=event.occurred_at,
                created_at=event.occurred_at,
            )
        )
        self._session.info.setdefault(COMMITTED_EVENTS, []).append(event.id)
