"""Eligibility: computed windows, named failures, PI confirmation by e-signature, re-confirmation."""

import datetime as dt

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Signature
from core.errors import DomainError, NotPermitted
from core.signatures import SignatureRefused
from patients import services
from patients.models import EligibilityAssessment, Patient
from patients.selectors import patient_randomisation_blockers
from tests.patients.factories import PatientFactory, eligible_answers
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(world, consent_doc):
    from patients.models import Consent

    p = PatientFactory(site=world.site_a)
    Consent.objects.create(patient=p, document=consent_doc, consented_at=p.created_at, taken_by=world.nurse_a)
    return p


def _confirm(world, patient, password, **answers):
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient, **answers))
    services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    patient.refresh_from_db()
    return patient


def test_all_criteria_met_makes_the_patient_eligible_with_strata_and_a_signature(world, patient, password):
    patient = _confirm(world, patient, password)
    assert patient.status == Patient.Status.ELIGIBLE
    assert patient.stratification_factors() == {"primary_site": "pancreas", "who_grade": "G2", "resection_margin": "R1"}
    assessment = patient.eligibility
    assert assessment.outcome == "eligible" and assessment.confirmed_by == world.pi_a
    sig = Signature.objects.get(signer=world.pi_a)
    assert sig.meaning == services.ELIGIBILITY_MEANING and sig.is_valid
    assert patient_randomisation_blockers(patient) == []


@pytest.mark.parametrize(
    ("answers", "named"),
    [
        ({"mri_date": "9 weeks"}, "Inclusion 7: MRI 9.0 weeks before the liver resection (at most 6 weeks)"),
        ({"ki67_percent": "25.0", "who_grade": "G2"}, "Inclusion 4: Ki-67 25.0 % (must be below 20 %)"),
        ({"resection_margin": "R2"}, "Inclusion 5 / exclusion: R2 (debulking) resection"),
        ({"pet_date": "13 weeks"}, "Inclusion 8: 68Ga-DOTATATE PET/CT 13.0 weeks before the liver resection"),
        ({"prior_prrt": True}, "Exclusion: prior PRRT"),
        ({"ecog": 2}, "Inclusion 3: ECOG performance status 2"),
        ({"who_grade": "G3"}, "Exclusion: G3 neuroendocrine tumour"),
        ({"primary_site": "other"}, "Inclusion 4: primary is not in the stomach, pancreas or gut"),
        # Failures that time resolves (< 4 weeks since surgery, liver-directed therapy within 12
        # weeks) are not confirmed as "not eligible": tests/patients/test_eligibility_from_source.py.
    ],
)
def test_a_failed_criterion_makes_the_patient_ineligible_naming_it(world, patient, password, answers, named):
    surgery = patient.liver_resection_date
    resolved = {}
    for key, value in answers.items():
        if value == "9 weeks":
            value = surgery - dt.timedelta(weeks=9)
        elif value == "13 weeks":
            value = surgery - dt.timedelta(weeks=13)
        elif value == "3 weeks":
            value = surgery + dt.timedelta(weeks=3)
        elif value == "10 weeks before assessment":
            value = surgery + dt.timedelta(days=30) - dt.timedelta(days=70)
        resolved[key] = value
    patient = _confirm(world, patient, password, **resolved)
    assert patient.status == Patient.Status.INELIGIBLE
    assert any(f.startswith(named) for f in patient.eligibility.failed_criteria), patient.eligibility.failed_criteria
    blockers = patient_randomisation_blockers(patient)
    assert "The patient is not eligible." in blockers


def test_the_window_is_computed_from_dates_at_its_edge(world, patient, password):
    surgery = patient.liver_resection_date
    eligible = _confirm(world, patient, password, mri_date=surgery - dt.timedelta(days=42))
    assert eligible.status == Patient.Status.ELIGIBLE


def test_unanswered_criteria_block_confirmation_and_are_listed(world, patient, password):
    services.eligibility_save(
        actor=world.nurse_a,
        patient=patient,
        data={"assessed_on": patient.liver_resection_date + dt.timedelta(days=30), "ecog": 0},
    )
    with pytest.raises(DomainError) as exc:
        services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    assert "Ki-67 index" in exc.value.message and "Resection margin" in exc.value.message
    assert not Signature.objects.exists()


def test_a_nurse_cannot_confirm_and_a_wrong_password_confirms_nothing(world, patient, password):
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    with pytest.raises(NotPermitted):
        services.eligibility_confirm(actor=world.nurse_a, patient=patient, password=password)
    with pytest.raises(SignatureRefused):
        services.eligibility_confirm(actor=world.pi_a, patient=patient, password="wrong")
    patient.refresh_from_db()
    assert patient.status == Patient.Status.CONSENTED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=world.pi_a).exists()


def test_a_pi_of_another_site_cannot_confirm(world, patient, password):
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    with pytest.raises(NotPermitted):
        services.eligibility_confirm(actor=world.pi_b, patient=patient, password=password)


def test_changing_a_confirmed_assessment_needs_a_reason_invalidates_the_signature_and_reopens_it(
    world, patient, password
):
    patient = _confirm(world, patient, password)
    assessment = patient.eligibility
    with pytest.raises(DomainError):
        services.eligibility_save(actor=world.nurse_a, patient=patient, data={"ecog": 0}, reason="")
    services.eligibility_save(
        actor=world.nurse_a,
        patient=patient,
        data={"ecog": 0},
        reason="ECOG corrected from clinic letter",
        expected_version=assessment.version,
    )
    patient.refresh_from_db()
    assessment.refresh_from_db()
    assert patient.status == Patient.Status.CONSENTED
    assert assessment.outcome == EligibilityAssessment.Outcome.PENDING
    assert not Signature.objects.get(signer=world.pi_a).is_valid
    assert patient_randomisation_blockers(patient)


def test_every_state_change_is_in_the_patient_history_with_who_and_why(client, world, patient, password):
    _confirm(world, patient, password, ki67_percent="30")
    client.force_login(world.nurse_a)
    page = client.get(reverse("patients:patient_history", kwargs={"trial_number": patient.trial_number}))
    entries = page.context["entries"]
    status_change = next(e for e in entries if any(c.field == "Status" for c in e.changes))
    assert status_change.who == world.pi_a.full_name
    assert status_change.reason.startswith("Not eligible: Inclusion 4: Ki-67 30")
    change = next(c for c in status_change.changes if c.field == "Status")
    assert (change.old, change.new) == ("Consented", "Ineligible")
    assert any(ev.kind == "eligibility_confirmed" for ev in page.context["events"])


def test_eligibility_form_keeps_typed_values_on_error(client, world, patient):
    client.force_login(world.nurse_a)
    url = reverse("patients:eligibility_edit", kwargs={"trial_number": patient.trial_number})
    response = client.post(url, {"assessed_on": "2020-13-45", "ecog": "7", "ki67_percent": "abc"})
    errors = response.context["form"].errors
    assert "assessed_on" in errors and "ecog" in errors and "ki67_percent" in errors
    assert b'value="abc"' in response.content and b'value="7"' in response.content
    assert not EligibilityAssessment.objects.exists()


pytestmark = requirement_marks(pytestmark, "URS-PAT-003", "URS-SIG-001", "URS-SIG-002")


def test_the_pis_first_signing_of_a_session_needs_the_user_id_on_the_confirmation_page(
    client, world, patient, password
):
    """21 CFR 11.200(a)(1)(i): the first signing in a session executes both components (user id and
    password); a wrong user id signs nothing and is recorded as a failed signature."""
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    client.force_login(world.pi_a)
    url = reverse("patients:eligibility_confirm", kwargs={"trial_number": patient.trial_number})
    assert "username" in client.get(url).context["form"].fields

    without_id = client.post(url, {"password": password, "accept": "on"})
    assert without_id.context["form"].errors["username"]
    wrong_id = client.post(url, {"username": world.nurse_a.username, "password": password, "accept": "on"})
    assert "not your user id" in str(wrong_id.context["form"].errors["username"])
    assert not Signature.objects.filter(signer=world.pi_a).exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=world.pi_a).exists()

    signed = client.post(url, {"username": world.pi_a.username, "password": password, "accept": "on"})
    assert signed.status_code == 302
    patient.refresh_from_db()
    assert patient.status == Patient.Status.ELIGIBLE
    assert "username" not in client.get(url).context["form"].fields  # later signings: the password
