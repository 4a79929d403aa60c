from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import Base, UUIDPrimaryKey


class AuditEventModel(UUIDPrimaryKey, Base):
    """One audit row. Append-only (the application role may only SELECT and INSERT), so no
    `updated_at`; no foreign keys either: a row outlives the user, tenant or object it
    names, and a cascade would be a DELETE or UPDATE the log does not allow."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_actor_id", "actor_id"),
        Index("ix_audit_events_target_id", "target_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[uuid.UUID] = mapped_column(GUID)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JsonB)
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
