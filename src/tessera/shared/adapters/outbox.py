"""The `outbox` table: domain events committed with the change that caused them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import Base, Timestamped


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxModel(Timestamped, Base):
    """One event waiting to be handed to the task queue (`dispatched_at` set once handed)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "available_at",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonB)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, index=True)
    available_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), default=_utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
