#!/usr/bin/env bash
# PostgreSQL first start (docker-entrypoint-initdb.d): the application's login role, which owns
# nothing. The tables belong to POSTGRES_USER, who runs the migrations; `migrate` then grants the
# app role read/write on trial data and read/append only on the audit trail (DATABASE_APP_ROLE),
# so the application can neither truncate nor disable the audit triggers.
set -euo pipefail
: "${NELMAS_APP_PASSWORD:?set NELMAS_APP_PASSWORD for the application role}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$NELMAS_APP_PASSWORD" <<'SQL'
CREATE ROLE nelmas_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO nelmas_app;
SQL
