"""invitations, and an index for the purge of deleted accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("accepted_at IS NULL AND revoked_at IS NULL")
DELETED = sa.text("deleted_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column(
            "tenant_id",
            GUID(length=16),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "invited_by",
            GUID(length=16),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("accepted_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("revoked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    )
    op.create_index("ix_invitations_tenant_id", "invitations", ["tenant_id"])
    op.create_index("ix_invitations_created_at", "invitations", ["created_at"])
    op.create_index("ix_invitations_pending_email", "invitations", ["tenant_id", "email"],
                    postgresql_where=PENDING, sqlite_where=PENDING)  # fmt: skip
    op.create_index("ix_users_deleted_at", "users", ["deleted_at"],
                    postgresql_where=DELETED, sqlite_where=DELETED)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_users_deleted_at", table_name="users")
    op.drop_table("invitations")
