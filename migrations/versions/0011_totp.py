"""totp: two-factor sign-in (TOTP secrets, recovery codes) and the tenants' `mfa_required`

`totp_credentials` holds one row per user who set TOTP up: the secret sealed with
`DATA_ENCRYPTION_KEY`, `enabled_at` (NULL while the setup is pending) and `last_used_step`,
the latest 30-second step a code was accepted for (a code of it or earlier is refused).
`mfa_recovery_codes` holds the hashes of a user's single-use recovery codes. Both are
tenant-owned, so on PostgreSQL they get 0006's `tenant_isolation` policy.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("totp_credentials", "mfa_recovery_codes")


def _rule(column: str) -> str:
    """0006's `tenant_isolation` rule, word for word."""
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


def _owned_by_user() -> list[sa.Column[object]]:
    return [
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column(
            "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", GUID(length=16), sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
    ]  # fmt: skip


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("mfa_required", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "totp_credentials",
        *_owned_by_user(),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("enabled_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), server_default="0", nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("user_id", name="uq_totp_credentials_user_id"),
    )
    op.create_index("ix_totp_credentials_tenant_id", "totp_credentials", ["tenant_id"])
    op.create_table(
        "mfa_recovery_codes",
        *_owned_by_user(),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", DateTimeUTC(timezone=True), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_mfa_recovery_codes_user_id"),
    )
    op.create_index("ix_mfa_recovery_codes_tenant_id", "mfa_recovery_codes", ["tenant_id"])
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
    op.drop_table("mfa_recovery_codes")
    op.drop_table("totp_credentials")
    op.drop_column("tenants", "mfa_required")
