"""Correcting registration data (issue 22, point 4): a reason, the history (old → new), the
eligibility signature voided, the visit schedule re-anchored on a corrected liver-resection date.

Protocol ("Visit schedule"): visits are anchored on the liver-resection date unless stated; cycle 1
at resection + 8 weeks ± 2 weeks. Expected dates below are worked from that, not from the code.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Signature
from core.errors import DomainError
from crf import services as crf
from crf.models import LiverResection
from patients import services
from patients.models import Consent, EligibilityAssessment, Patient
from randomisation.services import patient_randomise
from tests.patients.factories import PatientFactory, eligible_answers

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.fixture
def confirmed(world, consent_doc, password):
    """Resected 50 days ago, consented, eligibility confirmed by the PI's signature."""
    resection = TODAY() - dt.timedelta(days=50)
    patient = PatientFactory(site=world.site_a, liver_resection_date=resection, primary_resection_date=resection)
    Consent.objects.create(
        patient=patient,
        document=consent_doc,
        consented_at=timezone.now() - dt.timedelta(days=10),
        taken_by=world.nurse_a,
    )
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    patient.refresh_from_db()
    assert patient.status == Patient.Status.ELIGIBLE
    return patient


def test_a_corrected_liver_resection_date_moves_undone_visits_keeps_done_ones_and_voids_the_signature(
    world, consent_doc, password, blocks_design
):
    # Resected 100 days ago: follow-up month 3 (resection + 3 months ± 14 days, both arms) is open.
    old = TODAY() - dt.timedelta(days=100)
    patient = PatientFactory(site=world.site_a, liver_resection_date=old, primary_resection_date=old)
    Consent.objects.create(
        patient=patient,
        document=consent_doc,
        consented_at=timezone.now() - dt.timedelta(days=75),
        taken_by=world.nurse_a,
    )
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    patient.refresh_from_db()
    patient_randomise(patient=patient, actor=world.nurse_a, late_reason="Patient took longer to decide")
    visits = {v.code: v for v in patient.visits.all()}
    fu03 = crf.visit_mark_done(visit=visits["FU03"], day=TODAY() - dt.timedelta(days=2), actor=world.nurse_a)
    assert fu03.window_start <= fu03.done_on <= fu03.window_end
    before = {code: (v.target_date, v.window_start, v.window_end) for code, v in visits.items()}

    # 20 days earlier: month 3 is then old − 20 days + 3 months; its window closes 14 days after that,
    # before the day it was done (98 days after the old date = 118 after the new one).
    new = old - dt.timedelta(days=20)
    services.patient_registration_correct(
        actor=world.nurse_a,
        patient=patient,
        data={"liver_resection_date": new, "primary_resection_date": new},
        reason="Operation note: surgery was 20 days earlier",
    )

    after = {v.code: v for v in patient.visits.all()}
    offset = dt.timedelta(days=-20)
    for code in ("FU06", "FU12", "FU36"):  # liver-anchored, not done: moved by the same offset
        target, start, end = before[code]
        assert (after[code].target_date, after[code].window_start, after[code].window_end) == (
            target + offset,
            start + offset,
            end + offset,
        ), code
    assert after["RAND"].target_date == before["RAND"][0]  # anchored on randomisation, not the resection
    assert after["FU03"].done_on == fu03.done_on and after["FU03"].target_date == before["FU03"][0]
    assert "outside the window" in after["FU03"].window_flag

    signature = Signature.objects.get(meaning=services.ELIGIBILITY_MEANING)
    assert not signature.is_valid and "Operation note" in signature.invalidated_reason
    assessment = EligibilityAssessment.objects.get(patient=patient)
    assert assessment.outcome == EligibilityAssessment.Outcome.PENDING
    patient.refresh_from_db()
    # FU03 is done, so the patient is in follow-up (issue 25); the correction keeps a randomised patient
    # where they were (intention to treat), never back to consented.
    assert patient.status == Patient.Status.FOLLOW_UP

    row = patient.history.filter(liver_resection_date=new).order_by("history_date").first()
    assert row.history_user == world.nurse_a
    assert row.history_change_reason == "Registration data corrected: Operation note: surgery was 20 days earlier"
    assert row.prev_record.liver_resection_date == old


def test_correcting_before_randomisation_sends_eligibility_back_for_confirmation(client, world, confirmed):
    services.patient_registration_correct(
        actor=world.nurse_a, patient=confirmed, data={"year_of_birth": 1962}, reason="Typo at registration"
    )
    confirmed.refresh_from_db()
    assert confirmed.status == Patient.Status.CONSENTED and confirmed.year_of_birth == 1962
    assert not Signature.objects.get(meaning=services.ELIGIBILITY_MEANING).is_valid
    client.force_login(world.nurse_a)
    history = client.get(reverse("patients:patient_history", kwargs={"trial_number": confirmed.trial_number}))
    change = next(c for e in history.context["entries"] for c in e.changes if c.field.lower() == "year of birth")
    assert (str(change.old), str(change.new)) == ("1960", "1962")


def test_a_correction_needs_a_reason_and_nothing_changes_without_one(world, confirmed):
    with pytest.raises(DomainError) as exc:
        services.patient_registration_correct(actor=world.nurse_a, patient=confirmed, data={"sex": "M"}, reason=" ")
    assert exc.value.field == "reason"
    confirmed.refresh_from_db()
    assert confirmed.sex == "F" and Signature.objects.get(meaning=services.ELIGIBILITY_MEANING).is_valid


def test_staff_of_another_site_cannot_correct(world, confirmed):
    from core.errors import NotPermitted

    with pytest.raises(NotPermitted):
        services.patient_registration_correct(actor=world.nurse_b, patient=confirmed, data={"sex": "M"}, reason="wrong")


def test_the_liver_resection_crf_shows_the_registration_date_and_cannot_disagree(world, confirmed, blocks_design):
    patient_randomise(patient=confirmed, actor=world.nurse_a)
    rand = confirmed.visits.get(code="RAND")
    with pytest.raises(crf.CheckFailed) as exc:
        crf.crf_save(
            model=LiverResection,
            visit=rand,
            data={"resection_date": confirmed.liver_resection_date - dt.timedelta(days=3)},
            actor=world.nurse_a,
        )
    assert exc.value.errors[0][0] == "resection_date"
    form = crf.crf_save(
        model=LiverResection, visit=rand, data={"resection_date": confirmed.liver_resection_date}, actor=world.nurse_a
    )
    new = confirmed.liver_resection_date - dt.timedelta(days=3)
    services.patient_registration_correct(
        actor=world.nurse_a,
        patient=confirmed,
        data={"liver_resection_date": new, "primary_resection_date": new},
        reason="Operation note",
    )
    form.refresh_from_db()
    assert form.resection_date == new


def test_the_correction_page_keeps_what_was_typed_and_says_what_is_wrong(client, world, confirmed):
    client.force_login(world.nurse_a)
    url = reverse("patients:registration_correct", kwargs={"trial_number": confirmed.trial_number})
    future = (TODAY() + dt.timedelta(days=2)).isoformat()
    response = client.post(
        url,
        {
            "year_of_birth": "1961",
            "sex": "F",
            "primary_resection_date": confirmed.primary_resection_date.isoformat(),
            "liver_resection_date": future,
            "reason": "",
            "version": confirmed.version,
        },
    )
    errors = response.context["form"].errors
    assert "in the future" in str(errors["liver_resection_date"]) and "reason" in errors
    assert f'value="{future}"'.encode() in response.content and b'value="1961"' in response.content
    confirmed.refresh_from_db()
    assert confirmed.year_of_birth == 1960
    ok = client.post(
        url,
        {
            "year_of_birth": "1961",
            "sex": "F",
            "primary_resection_date": confirmed.primary_resection_date.isoformat(),
            "liver_resection_date": confirmed.liver_resection_date.isoformat(),
            "reason": "Checked against the hospital record",
            "version": confirmed.version,
        },
    )
    assert ok.status_code == 302
    confirmed.refresh_from_db()
    assert confirmed.year_of_birth == 1961
