from __future__ import annotations

from advanced_alchemy.types import JsonB
from sqlalchemy import CheckConstraint, String, false
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import Base, Timestamped


class FeatureFlagModel(Timestamped, Base):
    """A feature flag. Global, not tenant-owned: no `tenant_id`. Allow lists are JSON arrays
    of UUID strings, sorted."""

    __tablename__ = "feature_flags"
    __table_args__ = (
        CheckConstraint(
            "rollout_percentage >= 0 AND rollout_percentage <= 100", name="rollout_percentage"
        ),
    )

    key: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    rollout_percentage: Mapped[int] = mapped_column(default=0, server_default="0")
    tenant_ids: Mapped[list[str]] = mapped_column(JsonB)
    user_ids: Mapped[list[str]] = mapped_column(JsonB)
