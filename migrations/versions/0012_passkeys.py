"""passkeys: users' WebAuthn credentials, with row-level security on PostgreSQL

One row per credential: its id (unique across every tenant), COSE public key, sign
counter, transports, a name the user chose, the authenticator's AAGUID when it gave one.
Nothing secret is kept.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
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
        "passkeys",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column(
            "tenant_id", GUID(length=16), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", GUID(length=16), sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("credential_id", sa.LargeBinary(1024), nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary(2048), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("transports", JsonB, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=True),
        sa.Column("last_used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_passkeys_tenant_id", "passkeys", ["tenant_id"])
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])
    if op.get_bind().dialect.name == "postgresql":
        rule = _rule("tenant_id")
        op.execute("ALTER TABLE passkeys ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE passkeys FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON passkeys USING {rule} WITH CHECK {rule}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON passkeys")
    op.drop_table("passkeys")
