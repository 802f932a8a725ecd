"""The audit trail is append-only in the database, and the application cannot switch that off.

Sources: 21 CFR 11.10(e) (audit trails "shall not obscure previously recorded information"),
EU GMP Annex 11 §9, issue 19 finding 2. The suite connects as the application's non-owner role
(tests/support/db_roles.py), so these statements run with exactly the rights production has.
"""

import psycopg2
import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEvent, Signature
from core.append_only import ROW_TRIGGER, SEAL_TRIGGER, TRUNCATE_TRIGGER, append_only_tables, sealed_signature_table
from core.audit import content_fields, record_update
from core.signatures import signature_sign
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


# Signatures are sealed (21 CFR 11.70: a signature cannot be excised, copied or otherwise transferred
# by ordinary means): the row is never deleted, its signed part never changes (signer, time, meaning,
# record, content hash, and the manifest of covered fields added for issue 23), and the only update
# is its invalidation, once. The seal compares the whole row minus the invalidation columns, so a
# column added to the table (as covered_fields was) is sealed without a new trigger.


def _signed(world, password):
    return signature_sign(user=world.pi_a, password=password, meaning="I approve", obj=world.site_a)


@pytest.mark.parametrize(
    "assignment",
    [
        "covered_fields = '{\"sites.site\": [\"name\"]}'::jsonb",  # narrow the manifest to hide a change
        "covered_fields = NULL",  # pass it off as a legacy signature
        "content_hash = repeat('0', 64)",
        "signer_name = 'Somebody else'",
        "signed_at = signed_at - interval '1 day'",
        "object_id = '999999'",  # transfer it to another record
    ],
)
def test_the_signed_part_of_a_signature_cannot_be_changed(world, password, assignment):
    sig = _signed(world, password)
    assert _refused(f"UPDATE {sealed_signature_table()} SET {assignment} WHERE id = %s", [sig.pk])  # noqa: S608
    sig.refresh_from_db()
    assert sig.covered_fields == {"sites.site": sorted(f.attname for f in content_fields(world.site_a))}


def test_a_signature_is_invalidated_once_and_never_deleted_or_revived(world, password):
    sig = _signed(world, password)
    table = sealed_signature_table()
    assert _refused(f"DELETE FROM {table} WHERE id = %s", [sig.pk])  # noqa: S608
    assert _refused(f"TRUNCATE {table}")
    # The services' invalidation passes the seal ...
    record_update(obj=world.site_a, data={"recruitment_target": 42}, actor=world.trial_manager, reason="Amended")
    sig.refresh_from_db()
    assert sig.invalidated_at is not None
    # ... once: it cannot be undone, reworded or repeated.
    assert _refused(f"UPDATE {table} SET invalidated_at = NULL, invalidated_reason = '' WHERE id = %s", [sig.pk])  # noqa: S608
    assert _refused(f"UPDATE {table} SET invalidated_reason = 'Nothing happened' WHERE id = %s", [sig.pk])  # noqa: S608
    assert Signature.objects.filter(pk=sig.pk, invalidated_reason__contains="Amended").exists()


def test_the_seal_trigger_is_installed_and_enabled_on_the_signature_table(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = %s AND t.tgenabled = 'O' AND NOT t.tgisinternal",
            [sealed_signature_table()],
        )
        assert {row[0] for row in cursor.fetchall()} == {SEAL_TRIGGER, TRUNCATE_TRIGGER}
