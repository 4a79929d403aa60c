"""webhooks: tenants' endpoints and their deliveries, with row-level security on PostgreSQL

`webhook_endpoints.secret` and `previous_secret` hold AES-256-GCM sealed values, never a
secret in clear. `webhook_deliveries` keeps one row per endpoint and event (the outbox
event's id), with the exact body every attempt sends.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("webhook_endpoints", "webhook_deliveries")


def _rule(column: str) -> str:
    """0006's `tenant_isolation` rule, word for word."""
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


def _tenant_column() -> sa.Column[object]:
    return sa.Column(
        "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )  # fmt: skip


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", GUID(length=16), primary_key=True),
        _tenant_column(),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", JsonB, nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", DateTimeUTC(timezone=True), nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id"])
    op.create_index(
        "ix_webhook_endpoints_tenant_id_created_at", "webhook_endpoints",
        ["tenant_id", "created_at"],
    )  # fmt: skip
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", GUID(length=16), primary_key=True),
        _tenant_column(),
        sa.Column(
            "endpoint_id",
            GUID(length=16),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", GUID(length=16), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("next_attempt_at", DateTimeUTC(timezone=True), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    )
    op.create_index("ix_webhook_deliveries_tenant_id", "webhook_deliveries", ["tenant_id"])
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_created_at", "webhook_deliveries",
        ["endpoint_id", "created_at"],
    )  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":
        rule = _rule("tenant_id")
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {rule} WITH CHECK {rule}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in reversed(TABLES):
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
