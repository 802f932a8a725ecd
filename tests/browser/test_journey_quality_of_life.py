"""The nurse enters the quality-of-life questionnaires (QLQ-C30 items 1–30, QLQ-GI.NET21 items 31–51,
protocol CRF 14) and sees the stored C30 scores; a male patient's eligibility form does not ask the
pregnancy question (protocol CRF 13).

Vector: every item answered 1 → functional scales 100.0, symptom scales and global health 0.0,
summary score 100.0 (EORTC scoring manual; summary = mean of 13 scales, symptoms as 100 − score).
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from crf.models import QualityOfLife
from tests.crf.factories import scheduled_patient
from tests.patients.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_nurse_enters_c30_and_ginet21_items_and_sees_the_stored_scores(
    page, live_server, world, login, shots, assert_accessible
):
    patient = scheduled_patient(world.site_a, arm="A")
    login(page, world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/quality_of_life/")
    assert page.locator("#id_q51").count() == 1 and page.locator("#id_q52").count() == 0
    page.fill("#id_completed_on", timezone.localdate().isoformat())
    for n in range(1, 52):
        page.fill(f"#id_q{n}", "1")
    assert_accessible(page)
    shots(page, "quality-of-life-typed")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/RAND/quality_of_life/")
    stored = QualityOfLife.objects.get(patient=patient)
    assert stored.q51 == 1 and stored.c30_summary == Decimal("100.0") and stored.c30_pf2 == Decimal("100.0")
    text = page.inner_text("main")
    assert "Summary score" in text and "100.0" in text
    assert_accessible(page)
    shots(page, "quality-of-life-saved")


def test_a_male_patients_eligibility_form_has_no_pregnancy_question(
    page, live_server, world, login, shots, assert_accessible
):
    man = PatientFactory(site=world.site_a, sex="M")
    login(page, world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/patients/{man.trial_number}/eligibility/")
    assert page.locator("[name=pregnant_or_breastfeeding]").count() == 0
    assert page.locator("[name=unwilling_contraception]").count() == 1
    assert "Not asked of a male patient" in page.inner_text("#not-asked")
    assert_accessible(page)
    shots(page, "eligibility-male")
