"""notifications and their per-user read marks, with row-level security on PostgreSQL

A notification targets one user (`user_id` and that user's `tenant_id`), one tenant
(`tenant_id` only) or everyone (both NULL). Global rows must stay visible to every tenant, so
`notifications` has two policies: `tenant_isolation` (0006's rule, for every command) and
`global_visible` (SELECT only, `tenant_id IS NULL`). Writing a global row therefore needs the
all-tenants path; a tenant's transaction can read global rows but never change them.

`notification_reads` holds who read what: a tenant or global notification is read per user.
Its `tenant_id` is the reader's, so a read mark is tenant-owned like any other row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rule(column: str) -> str:
    """0006's `tenant_isolation` rule, word for word."""
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column(
            "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "user_id", GUID(length=16), sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *_timestamps(),
    )  # fmt: skip
    op.create_index("ix_notifications_tenant_id", "notifications", ["tenant_id"])
    op.create_index("ix_notifications_user_id", "notifications", ["user_id"])
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notification_reads",
        sa.Column(
            "notification_id", GUID(length=16),
            sa.ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column(
            "user_id", GUID(length=16), sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("read_at", DateTimeUTC(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_notification_reads_user_id", "notification_reads", ["user_id"])
    op.create_index("ix_notification_reads_tenant_id", "notification_reads", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in ("notifications", "notification_reads"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            rule = _rule("tenant_id")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {rule} WITH CHECK {rule}")
        op.execute(
            "CREATE POLICY global_visible ON notifications FOR SELECT USING (tenant_id IS NULL)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS global_visible ON notifications")
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON notification_reads")
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON notifications")
    op.drop_table("notification_reads")
    op.drop_table("notifications")
