"""crf/migrations/0012: the histopathology CRF's old primary-site code ``colorectum`` becomes
``colon_rectum`` (patients.codelists.PrimarySite: the code eligibility, the primary table, already
stored; protocol CRF 6 gives only the label "colon/rectum") in the live AND the history tables, the
append-only trigger is on again afterwards, and one audit event records the recode."""

import importlib

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEvent
from crf import services as crf
from crf.models import Histopathology
from patients import services as patients
from patients.models import EligibilityAssessment
from tests.crf.factories import scheduled_patient
from tests.patients.factories import eligible_answers
from tests.support.db_roles import as_owner

# Committed data and the owner's connection (the migration runs as the tables' owner, the suite as
# the application's role: tests/support/db_roles.py), so a transactional test.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

recode = importlib.import_module("crf.migrations.0014_recode_primary_site_colorectum").recode
TABLES = {
    Histopathology._meta.db_table,
    Histopathology.history.model._meta.db_table,
    EligibilityAssessment._meta.db_table,
    EligibilityAssessment.history.model._meta.db_table,
}


def _count(table: str, code: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE primary_site = %s', [code])  # noqa: S608 - model tables
        return cursor.fetchone()[0]


def _history_trail(model) -> list[tuple]:
    return list(
        model.history.model.objects.order_by("history_id").values_list(
            "history_id", "history_date", "history_user_id", "history_change_reason", "history_type", "version"
        )
    )


def _run_the_migration():
    """As ``migrate`` runs it: in one transaction."""
    with transaction.atomic(), connection.schema_editor(atomic=False) as editor:
        recode(apps, editor)


def _stored_with_the_old_code(world):
    """A patient whose eligibility and histopathology CRF hold ``colorectum``, live and in history,
    as the simulation and the CRF wrote them before issue 21."""
    patient = scheduled_patient(world.site_a)
    # eligibility_save stored whatever code it was given (the simulation's 'colorectum').
    patients.eligibility_save(
        actor=world.nurse_a, patient=patient, data={**eligible_answers(patient), "primary_site": "colorectum"}
    )
    form = crf.crf_save(
        model=Histopathology,
        visit=patient.visits.get(code="RAND"),
        data={"primary_site": "colon_rectum", "ki67_percent": 5},
        actor=world.nurse_a,
    )
    # The CRF's old list accepted 'colorectum': put the live value and a history step back as they were.
    Histopathology.objects.filter(pk=form.pk).update(primary_site="colorectum")
    old = form.history.order_by("-history_id").first()
    old.history_id, old.primary_site, old.history_change_reason = None, "colorectum", "Corrected site"
    old.save()
    return patient, form


def test_the_recode_leaves_no_stored_old_code_and_records_itself(world):
    patient, form = _stored_with_the_old_code(world)
    assert all(_count(t, "colorectum") for t in TABLES)
    trail_before = _history_trail(Histopathology), _history_trail(EligibilityAssessment)
    events_before = AuditEvent.objects.count()

    # The application's role may not do it (it does not own the tables): only a migration can.
    with pytest.raises(DatabaseError, match="owner"), transaction.atomic():
        _run_the_migration()
    assert all(_count(t, "colorectum") for t in TABLES)

    with as_owner():
        _run_the_migration()

    assert {t: _count(t, "colorectum") for t in TABLES} == dict.fromkeys(TABLES, 0)
    assert all(_count(t, "colon_rectum") for t in TABLES)
    form.refresh_from_db()
    assert form.primary_site == "colon_rectum"
    assert EligibilityAssessment.objects.get(patient=patient).primary_site == "colon_rectum"
    # Who, when, why and the versions of every history step are as they were.
    assert (_history_trail(Histopathology), _history_trail(EligibilityAssessment)) == trail_before
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.get(target_type="codelist", target_id="PrimarySite")
    assert event.kind == AuditEvent.Kind.RECORD_CHANGED
    assert event.detail["old"] == "colorectum" and event.detail["new"] == "colon_rectum"
    assert set(event.detail["rows"]) == TABLES
    assert event.detail["rows"][Histopathology._meta.db_table] == [form.pk]
    assert "not rewritten" in event.reason

    # The history table is append-only again, for the owner too: the trigger refuses an UPDATE.
    history_table = Histopathology.history.model._meta.db_table
    with as_owner():
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'UPDATE "{history_table}" SET primary_site = %s', ["pancreas"])  # noqa: S608
        # Run again (nothing left to recode): no second event.
        _run_the_migration()
    assert AuditEvent.objects.count() == events_before + 1
