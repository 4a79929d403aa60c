"""row-level security on PostgreSQL: the app role, and a tenant policy on every tenant-owned table

The service connects as `tessera_app`, a role that owns no table and cannot bypass RLS; the
owner (the role that runs migrations) keeps the tables. Every tenant-owned table forces RLS
with one policy: a row is visible and writable when its tenant is the transaction's
`app.tenant_id`, or when the transaction declared `app.all_tenants` (the audited path). No
setting, no rows. SQLite has no RLS: there the use cases are the only wall.

The role is created if missing and never dropped (roles belong to the cluster, and other
databases may use it). Give it a password and LOGIN to serve: see docs/operations.md.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tessera_app"
# table -> the column holding its tenant
TENANT_OWNED = {
    "tenants": "id",
    "users": "tenant_id",
    "one_time_tokens": "tenant_id",
    "invitations": "tenant_id",
}
DML = "SELECT, INSERT, UPDATE, DELETE"


def _rule(column: str) -> str:
    return (
        "(current_setting('app.all_tenants', true) = 'on' "
        f"OR {column} = nullif(current_setting('app.tenant_id', true), '')::uuid)"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Migrations of several databases may race to create it: the loser just finds it there.
    op.execute(f"""
        DO $$ BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$
    """)  # fmt: skip
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {DML} ON TABLES TO {APP_ROLE}")
    for table, column in TENANT_OWNED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        rule = _rule(column)
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {rule} WITH CHECK {rule}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in reversed(TENANT_OWNED):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE {DML} ON TABLES FROM {APP_ROLE}")
    op.execute(f"REVOKE {DML} ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
