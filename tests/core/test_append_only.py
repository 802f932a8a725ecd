"""The audit trail is append-only in the database, and the application cannot switch that off.

Sources: 21 CFR 11.10(e) (audit trails "shall not obscure previously recorded information"),
EU GMP Annex 11 §9, issue 19 finding 2. The suite connects as the application's non-owner role
(tests/support/db_roles.py), so these statements run with exactly the rights production has.
"""

import psycopg2
import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEvent
from core.append_only import ROW_TRIGGER, TRUNCATE_TRIGGER, append_only_tables
from tests.support.db_roles import APP_ROLE, owner_user

pytestmark = [pytest.mark.postgres, pytest.mark.requirement("URS-AUD-003")]


def _history_tables_in_database() -> set[str]:
    """Found from the columns, not the app registry: a history table nobody registered counts too."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name IN ('history_id', 'history_type', 'history_date') "
            "GROUP BY table_name HAVING count(*) = 3"
        )
        return {row[0] for row in cursor.fetchall()}


def _refused(sql: str, params=()) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_every_history_table_and_the_audit_table_carry_enabled_triggers(db):
    tables = _history_tables_in_database() | {"accounts_auditevent"}
    assert len(tables) > 10  # the trial's tracked models, not an empty query
    assert tables <= set(append_only_tables())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname IN (%s, %s) AND t.tgenabled = 'O'",
            [ROW_TRIGGER, TRUNCATE_TRIGGER],
        )
        triggers = set(cursor.fetchall())
    missing = sorted(
        (table, trigger)
        for table in tables
        for trigger in (ROW_TRIGGER, TRUNCATE_TRIGGER)
        if (table, trigger) not in triggers
    )
    assert missing == []


def test_the_suite_connects_as_a_role_that_owns_nothing(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        owned = cursor.fetchone()[0]
    assert (user, superuser, owned) == (APP_ROLE, False, 0)


@pytest.mark.parametrize("table", ["accounts_historicaluser", "accounts_auditevent"])
def test_the_app_role_cannot_update_delete_truncate_or_disable_triggers(world, table):
    AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, actor=world.nurse_a)
    world.nurse_a.full_name = "Changed for the history"
    world.nurse_a.save()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
        before = cursor.fetchone()[0]
    assert before > 0
    column = "history_change_reason" if table.startswith("accounts_historical") else "summary"
    assert _refused(f"UPDATE {table} SET {column} = 'rewritten'")  # noqa: S608
    assert _refused(f"DELETE FROM {table}")  # noqa: S608
    assert _refused(f"TRUNCATE {table}")
    assert _refused(f"ALTER TABLE {table} DISABLE TRIGGER {ROW_TRIGGER}")
    assert _refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert _refused(f"DROP TRIGGER {ROW_TRIGGER} ON {table}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert cursor.fetchone()[0] == before


def test_the_orm_cannot_rewrite_history_either(world):
    world.nurse_a.full_name = "Second name"
    world.nurse_a.save()
    record = world.nurse_a.history.first()
    record.history_change_reason = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        record.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        world.nurse_a.history.all().delete()


@pytest.mark.django_db(transaction=True)
def test_even_the_owner_is_refused_by_the_triggers(world):
    """Privileges stop the app role; the triggers stop everyone else who has not silenced them."""
    world.nurse_a.full_name = "Committed change"
    world.nurse_a.save()
    AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, actor=world.nurse_a)
    db = connection.settings_dict
    owner = psycopg2.connect(
        dbname=db["NAME"], user=owner_user(), host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432
    )
    try:
        for table in ("accounts_historicaluser", "accounts_auditevent"):
            for sql in (f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE"):  # noqa: S608
                with owner.cursor() as cursor, pytest.raises(psycopg2.Error, match="append-only"):
                    cursor.execute(sql)
                owner.rollback()
    finally:
        owner.close()
    assert AuditEvent.objects.count() >= 1 and world.nurse_a.history.count() >= 2
