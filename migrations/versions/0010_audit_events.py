"""audit_events: the append-only audit log, with row-level security on PostgreSQL

One row per security-relevant action (who, in which tenant, what, to what, from where,
when). No foreign keys: a row outlives the user, tenant or object it names, and a cascade
would be a change the log does not allow.

On PostgreSQL the application role gets SELECT and INSERT only (0006's default
privileges would give it UPDATE and DELETE too, so they are revoked): a row, once
written, cannot be changed or removed by the service. The one way out is retention:
`prune_audit_events(before)`, a SECURITY DEFINER function owned by the migrating role,
deletes rows older than `before` and refuses any `before` later than 30 days ago (the
floor of `AUDIT_RETENTION_DAYS`), so even a compromised service cannot erase the last
month. It runs under the caller's row-level security scope (the housekeeping job takes
the all-tenants path), and with a fixed `search_path`, as a definer function must.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tessera_app"


def _rule(column: str) -> str:
    """0006's `tenant_isolation` rule, word for word."""
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


PRUNE_FUNCTION = """
CREATE FUNCTION prune_audit_events(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    removed bigint;
BEGIN
    IF before IS NULL OR before > now() - interval '30 days' THEN
        RAISE EXCEPTION 'audit events younger than 30 days are kept'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM public.audit_events WHERE occurred_at < before;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", GUID(length=16), primary_key=True),
        sa.Column("tenant_id", GUID(length=16), nullable=False),
        sa.Column("actor_id", GUID(length=16), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(40), nullable=False),
        sa.Column("target_id", GUID(length=16), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("details", JsonB, nullable=False),
        sa.Column("occurred_at", DateTimeUTC(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_audit_events_tenant_id_occurred_at", "audit_events", ["tenant_id", "occurred_at"]
    )
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    op.create_index("ix_audit_events_target_id", "audit_events", ["target_id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")
    rule = _rule("tenant_id")
    op.execute(f"CREATE POLICY tenant_isolation ON audit_events USING {rule} WITH CHECK {rule}")
    op.execute(f"REVOKE ALL ON audit_events FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit_events TO {APP_ROLE}")
    op.execute(PRUNE_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION prune_audit_events(timestamptz) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION prune_audit_events(timestamptz) TO {APP_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS prune_audit_events(timestamptz)")
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON audit_events")
    op.drop_table("audit_events")
