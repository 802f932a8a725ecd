"""Derived values for forms saved before the system stored them (migration 0012, crf.backfill).

A laboratory panel saved before migration 0008 has its entries but no SI value, clearance or grade;
a quality-of-life form from before 0011 no C30 score. Those rows are made here by clearing the
derived columns of a saved form with QuerySet.update() (which writes no history row, as the old
code's saves did not write these columns). Expected values by hand from CTCAE v5.0 / protocol CRF 9
(platelets 60 ×10⁹/L: 50 ≤ 60 < 75 → grade 2; bilirubin 3.5 mg/dL × 17.1 = 59.85 µmol/L) and the
EORTC manual (all items 1: functional 100, symptoms 0, global health 0, summary 100).
"""

import contextlib
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone

from crf import services
from crf.backfill import BACKFILL_REASON, derived_values_backfill
from crf.models import FormStatus, Laboratory, QualityOfLife
from tests.crf.factories import scheduled_patient

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = timezone.localdate()


def _legacy(form):
    """Make ``form`` look as it was saved before its derived fields were stored."""
    type(form).objects.filter(pk=form.pk).update(**dict.fromkeys(type(form).DERIVED_FIELDS))
    form.refresh_from_db()
    return form


def _lab(world, **values):
    patient = scheduled_patient(world.site_a, arm="A")
    data = {"sample_date": TODAY, "platelets": D(60), "bilirubin": D("3.5"), "bilirubin_unit": "mg/dL"} | values
    return services.crf_save(model=Laboratory, visit=patient.visits.get(code="RAND"), data=data, actor=world.nurse_a)


def _qol(world):
    patient = scheduled_patient(world.site_a, arm="A")
    data = {"completed_on": TODAY} | {f"q{n}": 1 for n in range(1, 31)}
    return services.crf_save(model=QualityOfLife, visit=patient.visits.get(code="RAND"), data=data, actor=world.nurse_a)


def test_legacy_laboratory_panel_gets_its_grades_audited_by_the_system(world):
    lab = _legacy(_lab(world))
    assert lab.platelets_grade is None and lab.bilirubin_si is None
    versions = lab.history.count()

    result = derived_values_backfill()

    lab.refresh_from_db()
    assert [f.pk for f in result.updated] == [lab.pk]
    assert lab.platelets_grade == 2
    assert lab.bilirubin_si == D("59.9")  # 59.85 stored to one place
    assert lab.platelets == D(60) and lab.bilirubin == D("3.5") and lab.bilirubin_unit == "mg/dL"  # as entered
    latest = lab.history.first()
    assert lab.history.count() == versions + 1
    assert latest.history_change_reason == BACKFILL_REASON == "Derived values computed"
    assert latest.history_user is None  # the system, not a person
    assert latest.platelets_grade == 2


def test_legacy_quality_of_life_form_gets_its_scores(world):
    form = _legacy(_qol(world))
    derived_values_backfill()
    form.refresh_from_db()
    assert form.c30_pf2 == D("100.0") and form.c30_fa == D("0.0") and form.c30_ql2 == D("0.0")
    assert form.c30_summary == D("100.0")
    assert form.history.first().history_change_reason == "Derived values computed"


def test_backfill_is_idempotent_and_leaves_derived_forms_alone(world):
    legacy = _legacy(_lab(world))
    current = _qol(world)  # saved with its scores: nothing to do
    derived_values_backfill()
    versions = (legacy.history.count(), current.history.count())
    again = derived_values_backfill()
    assert again.updated == []
    assert (legacy.history.count(), current.history.count()) == versions
    assert current.history.count() == 1


def test_a_locked_form_is_listed_not_changed(world):
    lab = _legacy(_lab(world))
    Laboratory.objects.filter(pk=lab.pk).update(status=FormStatus.LOCKED)
    result = derived_values_backfill()
    lab.refresh_from_db()
    assert [f.pk for f in result.skipped_locked] == [lab.pk]
    assert lab.platelets_grade is None


def test_the_data_migration_runs_the_backfill_on_legacy_rows(world):
    lab = _legacy(_lab(world))
    migration = importlib.import_module("crf.migrations.0012_backfill_derived_values")
    assert migration._needs_backfill(apps)
    migration.forward(apps, None)
    lab.refresh_from_db()
    assert lab.platelets_grade == 2
    assert not migration._needs_backfill(apps)


@pytest.mark.django_db(transaction=True)
def test_migrating_from_before_the_backfill_waits_for_the_later_columns(world):
    """A database at crf 0011 with legacy forms, migrated to the latest in one ``migrate``: 0012's
    backfill runs today's models, whose quality-of-life table gains ``ginet21_scores`` only at
    crf 0015; run at 0012 its first query failed on that missing column. It now runs at the end
    of the migrate (and a partial migrate to 0012 says what to run, changing nothing)."""
    from io import StringIO

    from django.core.management import call_command

    from tests.support.db_roles import as_owner

    lab, qol = _legacy(_lab(world)), _legacy(_qol(world))
    with as_owner(), contextlib.ExitStack() as cleanup:  # migrate runs as the tables' owner, as in production
        cleanup.callback(call_command, "migrate", verbosity=0)  # leave the test database at the latest
        call_command("migrate", "crf", "0011", verbosity=0)
        partial = StringIO()
        call_command("migrate", "crf", "0012", verbosity=0, stdout=partial)
        assert "Run manage.py backfill_derived_values after migrating to the latest" in partial.getvalue()
        assert Laboratory.objects.filter(pk=lab.pk, platelets_grade__isnull=True).exists()  # untouched
        call_command("migrate", "crf", "0011", verbosity=0)

        out = StringIO()
        call_command("migrate", verbosity=0, stdout=out)
    assert "Derived values backfilled on 2 form(s)" in out.getvalue()
    lab.refresh_from_db()
    qol.refresh_from_db()
    assert lab.platelets_grade == 2  # CTCAE v5.0: 50 ≤ 60 < 75 ×10⁹/L
    assert qol.c30_summary == D("100.0")  # EORTC manual: all items 1
    assert lab.history.first().history_change_reason == BACKFILL_REASON
