#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data volume.
# Creates the login role the services connect as (`tessera_app`). Migration 0006 finds it
# there, leaves it as it is, and grants it DML on the tables; the tables belong to the role
# that runs `tessera migrate` (postgres), so row-level security applies to `tessera_app`.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$TESSERA_APP_PASSWORD" <<'SQL'
CREATE ROLE tessera_app LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
SQL
