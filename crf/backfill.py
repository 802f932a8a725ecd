"""Backfill of derived values on forms saved before the system stored them.

Laboratory panels saved before migration 0008 have no SI values, clearance or CTCAE grades, and
quality-of-life forms saved before migration 0011 no QLQ-C30 scale or summary scores, and before
0015 no QLQ-GI.NET21 scale scores; a quality-of-life form saved before the GI.NET21 scale map was
entered or corrected has the scores of the old map. Every other form has them from its save
(crf.services.crf_save). This computes them with the same functions the
save uses and writes them through ``record_update``, so each change has a history row with the
reason ``BACKFILL_REASON`` and no user (the system), and the entered values are left as they are.

A separate module (not crf/services.py) because it runs once, from a data migration and the
``backfill_derived_values`` command, not from a user's request.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor

from core.audit import record_update
from core.dataset_guard import DatasetLocked

from . import labs
from .models import FormStatus, Laboratory, QualityOfLife

BACKFILL_REASON = "Derived values computed"
BACKFILLED_MODELS = (Laboratory, QualityOfLife)


@dataclass
class BackfillResult:
    updated: list = field(default_factory=list)
    # Locked forms keep their values (a locked form changes only after unlocking): listed so the
    # data manager can unlock them; their next save derives the values.
    skipped_locked: list = field(default_factory=list)


def never_derived(model):
    """The forms of ``model`` none of whose derived fields was ever stored."""
    return model.objects.filter(**{f"{name}__isnull": True for name in model.DERIVED_FIELDS})


def candidates(model):
    """The forms whose derived values may be missing or out of date. Every quality-of-life form:
    its GI.NET21 scores depend on the configured scale map, which can change after the form was
    saved (one form per visit, so few rows); a laboratory panel only when it has none at all."""
    return model.objects.all() if model is QualityOfLife else never_derived(model)


MIGRATION = ("crf", "0012_backfill_derived_values")


def schema_pending(connection, *, besides=()) -> list[tuple[str, str]]:
    """The migrations not yet applied on ``connection``, apart from ``besides``. The backfill runs the
    application's models, which read and write every column of today's schema (a quality-of-life
    form its GI.NET21 scores, crf 0015; an invalidated signature its manifest, accounts 0011): until
    those columns exist it must wait, or its first query fails on a missing column."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [(m.app_label, m.name) for m, backwards in plan if not backwards and (m.app_label, m.name) not in besides]


def backfill_needed() -> bool:
    """Some laboratory or quality-of-life form has none of its derived values (saved before they
    were stored)."""
    return any(never_derived(model).exists() for model in BACKFILLED_MODELS)


def backfill_after_migrate(*, plan=None, using="default", stdout=None, **kwargs) -> None:
    """post_migrate: run the backfill of migration 0012 once the schema is complete.

    0012 cannot run it itself in a ``migrate`` that also applies later migrations: the models are
    today's, their tables not yet (see ``schema_pending``). So 0012 runs it only when it is the last
    one to apply, and otherwise this runs it at the end of a ``migrate`` that leaves no migration
    pending (the same one, or the next after a partial ``migrate crf 0012``, which says so)."""
    if not plan or all(backwards for _m, backwards in plan):
        return
    out = stdout or sys.stdout
    if schema_pending(connections[using]):
        if backfill_needed():
            out.write(
                "\n  Derived values not backfilled: migrations are still pending.\n"
                "  Run manage.py backfill_derived_values after migrating to the latest.\n"
            )
        return
    if not backfill_needed():
        return
    try:
        result = derived_values_backfill()
    except DatasetLocked as locked:
        out.write(
            f"\n  Derived values not backfilled: {locked}\n  Run manage.py backfill_derived_values after unlocking.\n"
        )
        return
    out.write(f"\n  Derived values backfilled on {len(result.updated)} form(s).\n")


@transaction.atomic
def derived_values_backfill() -> BackfillResult:
    """Compute and store the derived fields of every laboratory form that has none and of every
    quality-of-life form whose stored scores differ from its entries' (idempotent: a second run
    finds nothing to do)."""
    result = BackfillResult()
    for model in BACKFILLED_MODELS:
        # Sample date order: a panel's grades and clearance relative to baseline read the baseline
        # panel's stored SI values and clearance, so the baseline panel is derived first.
        order = ("patient_id", "sample_date", "pk") if model is Laboratory else ("patient_id", "pk")
        for form in candidates(model).select_related("patient", "patient__site", "visit").order_by(*order):
            values = {n: getattr(form, n) for n in model.data_field_names()}
            fresh = labs.form_derived_fields(model, values, patient=form.patient, visit=form.visit)
            changes = {n: v for n, v in fresh.items() if n in model.DERIVED_FIELDS and getattr(form, n) != v}
            if changes and form.status == FormStatus.LOCKED:
                result.skipped_locked.append(form)
            elif changes:
                result.updated.append(record_update(obj=form, data=changes, actor=None, reason=BACKFILL_REASON))
    return result
