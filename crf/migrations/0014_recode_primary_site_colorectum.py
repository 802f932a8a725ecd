"""Recode the primary site ``colorectum`` (the histopathology CRF's old code) to ``colon_rectum``,
the one code of patients.codelists.PrimarySite (issue 21), in the live tables and in their
django-simple-history tables, so no stored value keeps the losing code.

Why the history tables too, and how: the history is the record of what was entered, when and by
whom; its values have to be read with today's code list (exports, the audit views, the ODM
AuditRecords), and a code no list defines any longer would read as an unknown value there. The
recode changes the spelling of one value, not what was recorded: who, when, the reason for change
and every other field stay as they were. The history tables refuse UPDATE through a trigger
(accounts/append_only.py); a migration runs as the tables' owner, so for this one statement the row
trigger of that table is disabled and enabled again inside the migration's transaction (on
PostgreSQL DDL is transactional: a failure rolls back the recode and leaves the trigger on, and
ALTER TABLE holds an exclusive lock, so nothing else writes while it is off). The TRUNCATE trigger
is never touched. One audit event records the recode: the tables, the rows by id and the reason.

Not recoded, on purpose: the files of dataset-lock snapshots and earlier exports (a lock's export
must give the same bytes forever: protocol.md, Locks and sign-off) and signatures: a signature over
a recoded record keeps the digest of what was signed, so its status shows that the stored content
changed (accounts.signatures.signature_status), and this migration's audit event says why.
"""

from django.db import migrations

OLD, NEW = "colorectum", "colon_rectum"
ROW_TRIGGER = "nelmas_append_only_row"  # accounts.append_only.ROW_TRIGGER, copied: migrations stay frozen
TARGETS = [
    ("crf", "Histopathology"),
    ("crf", "HistoricalHistopathology"),
    # Written unchecked by the simulation (reports/simulation.py) before issue 21.
    ("patients", "EligibilityAssessment"),
    ("patients", "HistoricalEligibilityAssessment"),
]


def _has_row_trigger(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = %s AND c.relname = %s AND NOT t.tgisinternal",
        [ROW_TRIGGER, table],
    )
    return cursor.fetchone() is not None


def recode(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    recoded: dict[str, list[int]] = {}
    with connection.cursor() as cursor:
        for app_label, model_name in TARGETS:
            model = apps.get_model(app_label, model_name)
            table, pk = model._meta.db_table, model._meta.pk.column
            cursor.execute(f"SELECT {quote(pk)} FROM {quote(table)} WHERE primary_site = %s ORDER BY 1", [OLD])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                continue
            trigger = connection.vendor == "postgresql" and _has_row_trigger(cursor, table)
            if trigger:
                cursor.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER {ROW_TRIGGER}")
            cursor.execute(f"UPDATE {quote(table)} SET primary_site = %s WHERE primary_site = %s", [NEW, OLD])
            if trigger:
                cursor.execute(f"ALTER TABLE {quote(table)} ENABLE TRIGGER {ROW_TRIGGER}")
            recoded[table] = ids
    if not recoded:
        return  # nothing stored the old code (a new database): no event to record
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditEvent.objects.create(
        kind="record_changed",
        actor_label="migration crf.0012_recode_primary_site_colorectum",
        target_type="codelist",
        target_id="PrimarySite",
        target_label="Primary tumour site",
        summary=f"Code list recode: primary site {OLD} → {NEW} ({sum(map(len, recoded.values()))} rows)",
        reason=(
            "One code list per concept (issue 21): the histopathology CRF coded colon/rectum as "
            f"'{OLD}', eligibility as '{NEW}'. The stored value is respelled in the live and history "
            "tables; what was recorded, by whom and when is unchanged. Lock snapshots, earlier export "
            "files and signatures are not rewritten."
        ),
        detail={"old": OLD, "new": NEW, "rows": recoded},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_two_factor_device_removed_kind"),
        ("crf", "0013_one_codelist_per_concept"),
        ("patients", "0006_one_codelist_per_concept"),
    ]

    # Backwards: nothing to undo that would be right to undo; the losing code is not brought back.
    operations = [migrations.RunPython(recode, migrations.RunPython.noop)]
