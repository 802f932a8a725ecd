"""Data migration: derived values for forms saved before they were stored (crf.backfill).

Laboratory panels from before 0008 (SI values, clearance, CTCAE grades) and quality-of-life forms
from before 0011 (QLQ-C30 scales and summary score), audited with the reason "Derived values
computed" and no user (the system). The rows are found with the historical models; only when some
exist is the backfill run, with the application's own derivation code (the one rule the forms are
saved with, not a copy of it that could drift). While a dataset lock stands nothing may change, so
the migration then leaves the rows and says to run ``manage.py backfill_derived_values`` after
unlocking. When later migrations are applied in the same ``migrate``, the backfill waits for them
(the application's models need their columns) and runs at the end (crf.backfill, post_migrate).
"""

import sys

from django.db import migrations


# The derived fields as of this migration (frozen here, as a migration's view of the schema is).
DERIVED = {
    "Laboratory": [
        *(f"{a}_si" for a in ("haemoglobin", "creatinine", "albumin", "bilirubin")),
        "creatinine_clearance",
        *(
            f"{a}_grade"
            for a in ("haemoglobin", "wbc", "anc", "lymphocytes", "platelets", "creatinine", "alt", "ast", "alp")
        ),
        *(f"{a}_grade" for a in ("bilirubin", "albumin", "inr")),
    ],
    "QualityOfLife": [
        *(f"c30_{c}" for c in ("ql2", "pf2", "rf2", "ef", "cf", "sf", "fa", "nv", "pa", "dy", "sl", "ap", "co")),
        *(f"c30_{c}" for c in ("di", "fi", "summary")),
    ],
}


def _needs_backfill(apps) -> bool:
    return any(
        apps.get_model("crf", name).objects.filter(**{f"{n}__isnull": True for n in fields}).exists()
        for name, fields in DERIVED.items()
    )


def forward(apps, schema_editor):
    if not _needs_backfill(apps):
        return
    from django.db import connection

    from core.dataset_guard import DatasetLocked
    from crf.backfill import MIGRATION, derived_values_backfill, schema_pending

    if schema_pending(schema_editor.connection if schema_editor else connection, besides={MIGRATION}):
        # Later migrations add columns to the models the backfill runs (crf 0015, accounts 0011):
        # crf.backfill.backfill_after_migrate runs it at the end of this migrate, once they exist.
        return

    try:
        derived_values_backfill()
    except DatasetLocked as locked:
        sys.stdout.write(
            f"\n  Derived values not backfilled: {locked}\n  Run manage.py backfill_derived_values after unlocking.\n"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("crf", "0011_quality_of_life_ginet21_items_and_c30_scores"),
        # The backfill runs the application's models of these apps: their tables must be current.
        # Pinned to the migrations that were the latest when this one was written: "__latest__"
        # moved with every later migration of these apps, and a database that had applied this
        # one then refused to migrate ("applied before its dependency accounts.0010"). The later
        # ones (accounts 0009, patients 0006: choices only, no SQL; accounts 0010: a table the
        # backfill of lab and quality-of-life forms never touches) change nothing it reads.
        ("accounts", "0008_two_factor_device_removed_kind"),
        ("sites", "0003_site_planned_activation_and_recruitment_stop"),
        ("patients", "0005_merge_eligibility_and_lost_to_follow_up"),
        ("randomisation", "0002_allocation_late_reason"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
