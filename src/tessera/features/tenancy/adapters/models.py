from __future__ import annotations

from sqlalchemy import String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import Base, Timestamped


class TenantModel(Timestamped, Base):
    """An organisation; every user and every tenant-owned row belongs to exactly one."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Every user of the tenant must sign in with a second factor (SPEC §3.13).
    mfa_required: Mapped[bool] = mapped_column(default=False, server_default=false())
