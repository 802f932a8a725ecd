"""The audit trail is append-only in the database, not only in the ORM (21 CFR 11.10(e), Annex 11 §9).

Every django-simple-history table (who, when, old and new value, reason) and the audit-event table
get triggers that refuse UPDATE, DELETE and TRUNCATE, whoever connects. The application itself
connects as a role that does not own the tables (docker-compose.yml, README), so it can neither
``ALTER TABLE … DISABLE TRIGGER`` nor drop them; migrations run as the owner.

The triggers are installed after every ``migrate`` for every history model in the app registry, so
a tracked model added later is covered without anyone remembering a migration for it. Installing
is idempotent: only missing triggers are created. SQLite (local demo mode) has no equivalent.

Electronic signatures are sealed the same way (21 CFR 11.70: a signature cannot be excised, copied
or otherwise transferred): a signature row is never deleted and its signed part (signer, time,
meaning, record, content hash, the manifest of covered fields and any column added later) never
changes; the only update allowed is its invalidation, once. The trigger compares the whole row
minus the three invalidation columns, so a column added to the table later is sealed as well.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connections
from simple_history.models import HistoricalChanges

FUNCTION = "nelmas_audit_append_only"
ROW_TRIGGER = "nelmas_append_only_row"
TRUNCATE_TRIGGER = "nelmas_append_only_truncate"

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is part of the audit trail and append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


SEAL_FUNCTION = "nelmas_signature_sealed"
SEAL_TRIGGER = "nelmas_signature_sealed_row"
# The columns a signature's invalidation writes (core.signatures._invalidate); nothing else may change.
SIGNATURE_INVALIDATION_COLUMNS = ("invalidated_at", "invalidated_reason", "invalidated_by_id")

_SEAL_SQL = f"""
CREATE OR REPLACE FUNCTION {SEAL_FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.invalidated_at IS NULL
       AND (to_jsonb(NEW) - ARRAY[{", ".join(f"'{c}'" for c in SIGNATURE_INVALIDATION_COLUMNS)}])
         = (to_jsonb(OLD) - ARRAY[{", ".join(f"'{c}'" for c in SIGNATURE_INVALIDATION_COLUMNS)}]) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is sealed: a signature is never changed or removed, only invalidated once: '
            || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def sealed_signature_table(app_registry=global_apps) -> str:
    return app_registry.get_model("accounts", "Signature")._meta.db_table


def append_only_tables(app_registry=global_apps) -> list[str]:
    """The audit-event table and every history table of the registry, sorted."""
    tables = {app_registry.get_model("accounts", "AuditEvent")._meta.db_table}
    for model in app_registry.get_models():
        if issubclass(model, HistoricalChanges) and not model._meta.proxy and model._meta.managed:
            tables.add(model._meta.db_table)
    return sorted(tables)


def _existing(cursor, trigger: str) -> set[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = %s AND NOT t.tgisinternal",
        [trigger],
    )
    return {row[0] for row in cursor.fetchall()}


def append_only_install(*, using: str = "default", app_registry=global_apps) -> list[str]:
    """Create the missing triggers; returns the tables that got them. Runs as the tables' owner."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    tables = append_only_tables(app_registry)
    installed: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)", [tables]
        )
        present = {row[0] for row in cursor.fetchall()}
        have_row, have_truncate = _existing(cursor, ROW_TRIGGER), _existing(cursor, TRUNCATE_TRIGGER)
        missing = [t for t in tables if t in present and (t not in have_row or t not in have_truncate)]
        installed += _seal_install(cursor, quote, sealed_signature_table(app_registry), have_truncate)
        if not missing:
            return installed
        cursor.execute(_FUNCTION_SQL)
        for table in missing:
            if table not in have_row:
                cursor.execute(
                    f"CREATE TRIGGER {ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {quote(table)} "
                    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
                )
            if table not in have_truncate:
                cursor.execute(
                    f"CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {quote(table)} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
                )
            installed.append(table)
    return installed


def _seal_install(cursor, quote, table: str, have_truncate: set[str]) -> list[str]:
    """The signature table's seal: its own row trigger, and the audit trail's TRUNCATE refusal."""
    cursor.execute("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s", [table])
    if cursor.fetchone() is None:
        return []
    have_seal = _existing(cursor, SEAL_TRIGGER)
    if table in have_seal and table in have_truncate:
        return []
    cursor.execute(_SEAL_SQL)
    if table not in have_seal:
        cursor.execute(
            f"CREATE TRIGGER {SEAL_TRIGGER} BEFORE UPDATE OR DELETE ON {quote(table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {SEAL_FUNCTION}()"
        )
    if table not in have_truncate:
        cursor.execute(_FUNCTION_SQL)
        cursor.execute(
            f"CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {quote(table)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    return [table]


def app_role_grant(*, role: str, using: str = "default", app_registry=global_apps) -> None:
    """Give the application's role what it needs and no more: read and write trial data, only read
    and append the audit trail. Runs as the owner after ``migrate`` (DATABASE_APP_ROLE) and in the
    test set-up. The triggers refuse changes to the audit trail even where a grant slips through."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not role:
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        role_sql = quote(role)
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role_sql}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role_sql}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role_sql}")
        cursor.execute(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {role_sql}")
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)",
            [append_only_tables(app_registry)],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f"REVOKE UPDATE, DELETE ON {quote(table)} FROM {role_sql}")


def install_after_migrate(sender, using="default", apps=global_apps, **kwargs) -> None:
    """post_migrate receiver (sender: the accounts app, so it runs once, after every app migrated)."""
    append_only_install(using=using)
    app_role_grant(role=settings.DATABASE_APP_ROLE, using=using)
