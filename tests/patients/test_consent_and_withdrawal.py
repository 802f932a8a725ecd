"""Consent versions, re-consent tasks, withdrawal levels, and the patient list."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from patients import services
from patients.models import Consent, Patient, ReconsentTask
from patients.selectors import patient_randomisation_blockers
from tests.patients.factories import ConsentDocumentFactory, PatientFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def test_a_new_approved_version_puts_a_reconsent_task_on_patients_on_study(
    client, world, consent_doc, django_capture_on_commit_callbacks
):
    on_study = PatientFactory(site=world.site_a, status=Patient.Status.RANDOMISED)
    done = PatientFactory(site=world.site_a, status=Patient.Status.COMPLETED)
    today = timezone.localdate()
    new = services.consent_document_add(
        actor=world.trial_manager,
        data={
            "document_version": "5.0",
            "document_date": today,
            "valid_from": today,
            "valid_to": None,
            "ethics_approval_date": today,
        },
    )
    consent_doc.refresh_from_db()
    assert consent_doc.valid_to == today - dt.timedelta(days=1)  # the old version is superseded
    assert ReconsentTask.objects.filter(patient=on_study, document=new, completed_at__isnull=True).exists()
    assert not ReconsentTask.objects.filter(patient=done).exists()

    client.force_login(world.nurse_a)
    assert b"Re-consent due" in client.get(reverse("patients:patient_list")).content
    assert b"Re-consent due" in client.get(on_study.get_absolute_url()).content
    todo = client.get("/").content.decode().split('id="todo-heading"')[1].split('id="recent-heading"')[0]
    assert on_study.trial_number in todo and "Re-consent due" in todo and done.trial_number not in todo

    # The home page's cached panels move on when the write commits (crf.receivers).
    with django_capture_on_commit_callbacks(execute=True):
        services.consent_record(
            actor=world.nurse_a,
            patient=on_study,
            data={
                "document": new,
                "consented_at": timezone.now(),
                "samples_biobank": True,
                "tissue": True,
                "future_research": False,
                "gp_letter": True,
            },
        )
    assert not ReconsentTask.objects.filter(patient=on_study, completed_at__isnull=True).exists()
    assert b"Re-consent due" not in client.get(on_study.get_absolute_url()).content
    assert b"Re-consent due" not in client.get("/").content


def test_consent_on_a_version_not_yet_valid_is_refused(world, consent_doc):
    patient = PatientFactory(site=world.site_a)
    future = ConsentDocumentFactory(valid_from=timezone.localdate() + dt.timedelta(days=5))
    with pytest.raises(DomainError) as exc:
        services.consent_record(
            actor=world.nurse_a, patient=patient, data={"document": future, "consented_at": timezone.now()}
        )
    assert exc.value.field == "document"
    assert not Consent.objects.filter(patient=patient).exists()


def test_only_the_trial_manager_adds_versions(world):
    with pytest.raises(Exception, match="trial manager"):
        services.consent_document_add(
            actor=world.nurse_a,
            data={
                "document_version": "9",
                "document_date": timezone.localdate(),
                "valid_from": timezone.localdate(),
                "valid_to": None,
                "ethics_approval_date": timezone.localdate(),
            },
        )


@pytest.mark.parametrize(
    ("level", "status"), [("treatment", "randomised"), ("follow_up", "withdrawn"), ("data_use", "withdrawn")]
)
def test_withdrawal_records_its_level_and_what_it_stops_and_keeps_the_data(world, level, status):
    patient = PatientFactory(site=world.site_a, status=Patient.Status.RANDOMISED)
    withdrawal = services.patient_withdraw(
        actor=world.nurse_a,
        patient=patient,
        data={
            "withdrawn_on": timezone.localdate(),
            "level": level,
            "initiated_by": "patient",
            "reason": "Moved abroad",
        },
    )
    patient.refresh_from_db()
    assert patient.status == status
    assert "Lutathera dosing" in withdrawal.stops()
    if level != "treatment":
        assert "all further visits and forms" in withdrawal.stops()
        assert not patient.is_on_study()
        assert patient.history.first().history_change_reason.startswith("Withdrawn")
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_withdrawn_patient_cannot_be_randomised(world):
    patient = PatientFactory(site=world.site_a, status=Patient.Status.WITHDRAWN)
    assert any("withdrawn" in r for r in patient_randomisation_blockers(patient))


def test_patient_list_renders_500_patients_with_a_fixed_number_of_queries(
    client, world, consent_doc, django_assert_num_queries
):
    def render():
        return client.get(reverse("patients:patient_list"))

    client.force_login(world.trial_manager)
    PatientFactory.create_batch(5, site=world.site_a)
    render()
    with django_assert_num_queries(_count_queries(render)) as ctx:
        render()
    few = len(ctx.captured_queries)
    patients = PatientFactory.create_batch(495, site=world.site_b)
    for p in patients[:50]:
        Consent.objects.create(patient=p, document=consent_doc, consented_at=timezone.now(), taken_by=world.nurse_b)
    with django_assert_num_queries(few):
        response = render()
    assert response.status_code == 200
    assert "1–50 of 500" in response.content.decode()  # a page of 50, and the total said


def _count_queries(render):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        render()
    return len(ctx.captured_queries)


def test_patient_list_search_and_site_scope(client, world):
    a = PatientFactory(site=world.site_a, initials="XY")
    b = PatientFactory(site=world.site_b, initials="XY")
    client.force_login(world.nurse_a)
    body = client.get(reverse("patients:patient_list"), {"q": "xy"}).content.decode()
    assert a.trial_number in body and b.trial_number not in body
    client.force_login(world.monitor)
    body = client.get(reverse("patients:patient_list"), {"q": b.trial_number}).content.decode()
    assert b.trial_number in body and a.trial_number not in body


def test_patient_list_filters_by_site_and_status(client, world):
    from patients.models import Patient

    consented = PatientFactory(site=world.site_a)
    eligible = PatientFactory(site=world.site_a, status=Patient.Status.ELIGIBLE)
    other_site = PatientFactory(site=world.site_b, status=Patient.Status.ELIGIBLE)
    client.force_login(world.data_manager)
    url = reverse("patients:patient_list")

    def rows(params):  # the table only: the search box's placeholder shows a sample trial number
        return client.get(url, params).content.decode().split("<tbody")[1]

    by_status = rows({"status": "eligible"})
    assert eligible.trial_number in by_status and other_site.trial_number in by_status
    assert consented.trial_number not in by_status
    by_both = rows({"status": "eligible", "site": "NL01"})
    assert other_site.trial_number in by_both and eligible.trial_number not in by_both
    client.force_login(world.nurse_a)  # a site filter cannot reach another site's patients
    assert other_site.trial_number not in rows({"site": "NL01"})


pytestmark = requirement_marks(pytestmark, "URS-PAT-002", "URS-PAT-004")
