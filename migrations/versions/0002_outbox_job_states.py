"""outbox rows carry their job's state and leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = sa.text("status = 'pending'")
UNDISPATCHED = sa.text("dispatched_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="pending", nullable=False)
        )
        batch.add_column(sa.Column("locked_until", DateTimeUTC(timezone=True), nullable=True))
        batch.add_column(sa.Column("processed_at", DateTimeUTC(timezone=True), nullable=True))
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.create_index(
        "ix_outbox_due", "outbox", ["available_at"], postgresql_where=DUE, sqlite_where=DUE
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_index("ix_outbox_status", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("processed_at")
        batch.drop_column("locked_until")
        batch.drop_column("status")
    op.create_index(
        "ix_outbox_pending", "outbox", ["available_at"],
        postgresql_where=UNDISPATCHED, sqlite_where=UNDISPATCHED,
    )  # fmt: skip
