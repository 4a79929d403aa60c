"""files: uploaded files' metadata, with row-level security on PostgreSQL

`user_id` keeps the uploader's id without a foreign key, so the files of a purged account
can still be found (and their objects removed) after its row is gone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rule(column: str) -> str:
    """0006's `tenant_isolation` rule, word for word."""
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column(
            "tenant_id",
            GUID(length=16),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uploaded_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    )
    op.create_index("ix_files_tenant_id", "files", ["tenant_id"])
    op.create_index("ix_files_user_id", "files", ["user_id"])
    op.create_index("ix_files_tenant_id_uploaded_at", "files", ["tenant_id", "uploaded_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE files ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE files FORCE ROW LEVEL SECURITY")
        rule = _rule("tenant_id")
        op.execute(f"CREATE POLICY tenant_isolation ON files USING {rule} WITH CHECK {rule}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON files")
    op.drop_table("files")
