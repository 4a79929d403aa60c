"""users and one-time tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
ACTIVE = sa.text("is_active")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def _tenant() -> sa.Column[object]:
    return sa.Column(
        "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", GUID(length=16), primary_key=True),
        _tenant(),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(255), nullable=False),
        sa.Column("avatar_url", sa.String(512), nullable=True),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("deleted_at", DateTimeUTC(timezone=True), nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.create_index("ix_users_is_active", "users", ["is_active"],
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)  # fmt: skip
    op.create_index("uq_users_email_live", "users", ["email"], unique=True,
                    postgresql_where=LIVE, sqlite_where=LIVE)  # fmt: skip
    op.create_table(
        "one_time_tokens",
        sa.Column("id", GUID(length=16), primary_key=True),
        _tenant(),
        sa.Column(
            "user_id",
            GUID(length=16),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("used_at", DateTimeUTC(timezone=True), nullable=True),
        *_timestamps(),
    )
    for column in ("tenant_id", "user_id", "expires_at"):
        op.create_index(f"ix_one_time_tokens_{column}", "one_time_tokens", [column])


def downgrade() -> None:
    op.drop_table("one_time_tokens")
    op.drop_table("users")
