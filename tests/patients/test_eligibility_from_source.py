"""Eligibility as protocol.md says (issue 22): age from the year of birth as a range, the WHO grade
derived from Ki-67 and mitoses as the stratum, and the PI confirming what they see.

Every expected value below is worked by hand from ../shared/docs/protocol.md ("Eligibility",
"Stratification", CRF 6), not taken from the code's output.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from core.errors import DomainError
from patients import services
from patients.eligibility import evaluate
from patients.grading import age_range
from patients.models import Consent, EligibilityAssessment, Patient
from patients.selectors import patient_randomisation_blockers
from randomisation.models import Allocation
from randomisation.services import patient_randomise
from tests.patients.factories import PatientFactory, eligible_answers

pytestmark = pytest.mark.django_db


def _unsaved(patient, **overrides) -> EligibilityAssessment:
    """An assessment as saved answers would be (numbers as Decimals), evaluated without saving."""
    answers = eligible_answers(patient, **overrides)
    for name in ("ki67_percent", "mitoses_per_2mm2"):
        if answers.get(name) is not None:
            answers[name] = Decimal(answers[name])
    return EligibilityAssessment(patient=patient, **answers)


def _consented(world, doc, consent_day: dt.date, year_of_birth: int) -> Patient:
    patient = PatientFactory(site=world.site_a, year_of_birth=year_of_birth)
    at = timezone.make_aware(dt.datetime.combine(consent_day, dt.time(12, 0)))
    Consent.objects.create(patient=patient, document=doc, consented_at=at, taken_by=world.nurse_a)
    return patient


# Protocol, Eligibility, "Age": at a date D the patient is (D.year − YOB − 1) or (D.year − YOB);
# inclusion 2 holds only if the lower bound is ≥ 18 at consent, or the investigator records that the
# 18th birthday was on or before the consent date. An upper bound of 18 is never enough on its own.
# (year of birth, consent date, investigator's answer, expected: "met" / "failed" / "unanswered")
AGE_TABLE = [
    (2008, dt.date(2026, 1, 1), None, "unanswered"),  # 17 or 18: the answer is needed
    (2008, dt.date(2026, 1, 1), True, "met"),  # 17 or 18, 18th birthday on/before consent
    (2008, dt.date(2026, 1, 1), False, "failed"),  # 17 or 18, birthday after consent: 17
    (2008, dt.date(2026, 12, 31), None, "unanswered"),  # still 17 or 18 on the last day of the year
    (2008, dt.date(2026, 12, 31), False, "failed"),
    (2008, dt.date(2027, 1, 1), None, "met"),  # 18 or 19: lower bound 18
    (2007, dt.date(2026, 1, 1), None, "met"),  # 18 or 19
    (2009, dt.date(2026, 12, 31), None, "failed"),  # 16 or 17: under 18 whatever the birthday
    (2009, dt.date(2026, 12, 31), True, "failed"),  # a confirmation cannot make a 17-year-old 18
]


@pytest.mark.parametrize(("yob", "consent_day", "answer", "expected"), AGE_TABLE)
def test_inclusion_2_at_the_18th_birthday_edges(world, consent_doc, yob, consent_day, answer, expected):
    patient = _consented(world, consent_doc, consent_day, yob)
    assessment = _unsaved(patient, eighteenth_birthday_confirmed=answer)
    result = evaluate(assessment, patient)
    missing = {f.code for f in result.missing}
    failed = {f.code for f in result.failed}
    if expected == "met":
        assert "age" not in failed and "age_confirmation" not in missing and result.eligible
    elif expected == "failed":
        assert "age" in failed and not result.eligible
    else:
        assert "age_confirmation" in missing and not result.eligible


def test_age_range_is_the_two_possible_ages():
    # Protocol: (D.year − YOB − 1) or (D.year − YOB).
    assert age_range(2008, dt.date(2026, 6, 1)) == (17, 18)
    assert age_range(1960, dt.date(2026, 6, 1)) == (65, 66)


def test_the_age_message_states_the_range_and_the_investigator_must_answer(world, consent_doc):
    patient = _consented(world, consent_doc, dt.date(2026, 3, 2), 2008)
    result = evaluate(_unsaved(patient), patient)
    text = next(f.text for f in result.missing if f.code == "age_confirmation")
    assert "17 or 18 on 02 Mar 2026 (born in 2008)" in text
    assert ("Age at consent (from the year of birth)", "17 or 18 on 02 Mar 2026 (born in 2008)") in result.derived


def _registration(doc, year_of_birth):
    today = timezone.localdate()
    data = {
        "initials": "JS",
        "year_of_birth": year_of_birth,
        "sex": "F",
        "liver_resection_date": today - dt.timedelta(days=40),
        "primary_resection_date": today - dt.timedelta(days=40),
    }
    return data, {"document": doc, "consented_at": timezone.now() - dt.timedelta(hours=1)}


def test_registration_refuses_a_patient_certainly_under_18_naming_both_possible_ages(world, consent_doc):
    year = timezone.localdate().year
    data, consent = _registration(consent_doc, year - 17)  # 16 or 17 today
    with pytest.raises(DomainError) as exc:
        services.patient_register(actor=world.nurse_a, site=world.site_a, data=data, consent=consent)
    assert exc.value.field == "year_of_birth"
    assert "16 or 17" in exc.value.message and "under 18" in exc.value.message
    assert not Patient.objects.exists()


def test_registration_of_a_patient_who_may_be_17_or_18_leaves_inclusion_2_to_the_investigator(
    world, consent_doc, password
):
    year = timezone.localdate().year
    data, consent = _registration(consent_doc, year - 18)  # 17 or 18 today
    patient = services.patient_register(actor=world.nurse_a, site=world.site_a, data=data, consent=consent)
    services.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    with pytest.raises(DomainError, match="18th birthday"):
        services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    services.eligibility_save(
        actor=world.nurse_a,
        patient=patient,
        data={"eighteenth_birthday_confirmed": True},
        reason="PI checked the date of birth in the hospital notes",
    )
    services.eligibility_confirm(actor=world.pi_a, patient=patient, password=password)
    patient.refresh_from_db()
    assert patient.status == Patient.Status.ELIGIBLE
    # The explicit answer is audited: it is in the assessment's history with who recorded it.
    row = patient.eligibility.history.filter(eighteenth_birthday_confirmed=True).order_by("history_date").first()
    assert row.history_user == world.nurse_a
    assert row.history_change_reason == "PI checked the date of birth in the hospital notes"


# Protocol CRF 6: G1 Ki-67 < 3 % and mitoses < 2; G2 Ki-67 3–20 % or mitoses 2–20; the higher index
# sets the grade. Ki-67 15 % with mitoses 1 is G2 whatever the local report says.


@pytest.fixture
def ready(world, consent_doc):
    patient = PatientFactory(site=world.site_a)
    Consent.objects.create(
        patient=patient,
        document=consent_doc,
        consented_at=timezone.now() - dt.timedelta(days=3),
        taken_by=world.nurse_a,
    )
    return patient


def test_a_local_g1_against_ki67_15_blocks_randomisation_then_the_stratum_uses_g2(
    world, ready, password, blocks_design
):
    answers = eligible_answers(ready, ki67_percent="15.0", mitoses_per_2mm2="1", who_grade="G1")
    services.eligibility_save(actor=world.nurse_a, patient=ready, data=answers)
    services.eligibility_confirm(actor=world.pi_a, patient=ready, password=password)
    ready.refresh_from_db()
    assert ready.status == Patient.Status.ELIGIBLE  # G1 and G2 are both eligible
    assert ready.who_grade == "G2"  # the stratum is the derived grade, not the reported G1
    blockers = " ".join(patient_randomisation_blockers(ready))
    assert "Entered grade G1 but Ki-67 15 % and mitoses 1 give G2" in blockers
    with pytest.raises(DomainError, match="Entered grade G1 but Ki-67 15 %"):
        patient_randomise(patient=ready, actor=world.nurse_a)
    assert not Allocation.objects.exists()

    services.eligibility_save(
        actor=world.nurse_a,
        patient=ready,
        data={"who_grade": "G2"},
        reason="Pathologist's addendum: G2 by Ki-67",
        expected_version=ready.eligibility.version,
    )
    services.eligibility_confirm(actor=world.pi_a, patient=ready, password=password)
    ready.refresh_from_db()
    allocation = patient_randomise(patient=ready, actor=world.nurse_a)
    # DEFAULT_FACTORS order: primary site | WHO grade | margin (eligible_answers: pancreas, R1).
    assert allocation.stratum == "pancreas|G2|R1"


def _api(user):
    _token, key = api_token_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_the_same_grade_rule_holds_through_the_api(world, ready, password, blocks_design):
    client = _api(world.nurse_a)
    url = f"/api/v1/patients/{ready.trial_number}/"
    answers = eligible_answers(ready, ki67_percent="15.0", mitoses_per_2mm2="1", who_grade="G1")
    body = {"answers": {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in answers.items()}, "version": 0}
    assert client.post(url + "eligibility/", body, format="json").status_code == 200
    services.eligibility_confirm(actor=world.pi_a, patient=ready, password=password)  # e-signature: in the app
    refused = client.post(url + "randomise/", {}, format="json")
    assert refused.status_code == 400
    assert "Entered grade G1 but Ki-67 15 % and mitoses 1 give G2" in refused.json()["message"]
    version = EligibilityAssessment.objects.get(patient=ready).version
    fixed = client.post(
        url + "eligibility/",
        {"answers": {"who_grade": "G2"}, "reason": "Pathologist's addendum", "version": version},
        format="json",
    )
    assert fixed.status_code == 200 and fixed.json()["outcome"] == "pending"
    services.eligibility_confirm(actor=world.pi_a, patient=ready, password=password)
    allocated = client.post(url + "randomise/", {}, format="json")
    assert allocated.status_code == 200 and allocated.json()["stratum"] == "pancreas|G2|R1"
    assert client.get(url).json()["who_grade"] == "G2"


def test_mitoses_above_20_make_a_g3_tumour_even_with_ki67_below_20(world, ready):
    # CRF 6: the higher index sets the grade; mitoses > 20 per 2 mm² is G3 (exclusion: G3 NET).
    assessment = _unsaved(ready, ki67_percent="10", mitoses_per_2mm2="25", who_grade="G2")
    result = evaluate(assessment, ready)
    assert not result.eligible and "grade_derived" in {f.code for f in result.failed}


def test_mitoses_are_asked_at_eligibility(world, ready):
    assessment = _unsaved(ready, mitoses_per_2mm2=None)
    assert "mitoses" in {f.code for f in evaluate(assessment, ready).missing}


# Protocol, Eligibility: "The PI confirms eligibility on a page that shows every answer and evidence
# date being confirmed"; issue 22: a failing patient is shown as not eligible with the criteria named.


def test_confirmation_page_of_a_failing_patient_says_not_eligible_and_names_the_criteria(client, world, ready):
    answers = eligible_answers(ready, ecog=2, prior_prrt=True)
    services.eligibility_save(actor=world.nurse_a, patient=ready, data=answers)
    client.force_login(world.pi_a)
    page = client.get(reverse("patients:eligibility_confirm", kwargs={"trial_number": ready.trial_number}))
    html = page.content.decode()
    assert "The patient is NOT eligible" in html
    assert "Inclusion 3: ECOG performance status 2 (must be 0 or 1)" in html
    assert "Exclusion: prior PRRT" in html
    assert "Every inclusion criterion is met" not in html
    detail = client.get(ready.get_absolute_url()).content.decode()
    assert "Not eligible on these answers" in detail and "Every criterion is met on the answers" not in detail


def test_confirmation_page_of_a_passing_patient_shows_every_answer_with_evidence_dates_and_derived_values(
    client, world, ready
):
    answers = eligible_answers(ready)
    services.eligibility_save(actor=world.nurse_a, patient=ready, data=answers)
    client.force_login(world.pi_a)
    page = client.get(reverse("patients:eligibility_confirm", kwargs={"trial_number": ready.trial_number}))
    html = page.content.decode()
    assert "Every inclusion criterion is met" in html
    for name in answers:
        label = str(EligibilityAssessment._meta.get_field(name).verbose_name)
        label = label[:1].upper() + label[1:]
        assert label in html, label
    mri = answers["mri_date"]
    assert f'{mri:%d %b %Y} <span class="text-body-secondary small">(MRI)</span>' in html
    weeks = (answers["assessed_on"] - ready.liver_resection_date).days
    assert f"{weeks // 7} weeks {weeks % 7} days" in html
    assert "WHO grade derived from Ki-67 5 % and mitoses 1/2 mm²" in html
    year = timezone.localdate().year
    assert f"(born in {ready.year_of_birth})" in html and f"{year - ready.year_of_birth - 1} or " in html


def test_less_than_4_weeks_since_surgery_says_when_it_will_be_met_and_cannot_be_signed_not_eligible(
    client, world, ready, password
):
    # Exclusion: < 4 weeks since surgery. Assessed 21 days after the resection: met from day 28.
    surgery = ready.liver_resection_date
    services.eligibility_save(
        actor=world.nurse_a, patient=ready, data=eligible_answers(ready, assessed_on=surgery + dt.timedelta(days=21))
    )
    met = surgery + dt.timedelta(days=28)
    client.force_login(world.pi_a)
    html = client.get(reverse("patients:eligibility_confirm", kwargs={"trial_number": ready.trial_number})).content
    html = html.decode()
    assert "Not yet eligible" in html and f"met from {met:%d %b %Y}" in html
    assert "The patient is NOT eligible" not in html and 'name="password"' not in html
    with pytest.raises(DomainError) as exc:
        services.eligibility_confirm(actor=world.pi_a, patient=ready, password=password)
    assert exc.value.code == "not_yet_eligible" and f"{met:%d %b %Y}" in exc.value.message
    ready.refresh_from_db()
    assert ready.status == Patient.Status.CONSENTED
