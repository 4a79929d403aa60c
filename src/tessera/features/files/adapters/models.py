from __future__ import annotations

import uuid
from datetime import datetime

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.shared.adapters.database import Base, Timestamped


class FileModel(Timestamped, Base):
    """An uploaded file's metadata; the bytes live in object storage at `storage_key`.

    `user_id` has no foreign key on purpose: the uploader's id outlives a purged account, so
    the files it left can still be found and removed."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_tenant_id_uploaded_at", "tenant_id", "uploaded_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    uploaded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
