"""The nurse transcribes the quality-of-life questionnaires (QLQ-C30 items 1–30, QLQ-GI.NET21 items
31–51, protocol CRF 14) in the printed-paper layout (issue 26) and sees the stored C30 scores; a male
patient's eligibility form does not ask the pregnancy question (protocol CRF 13).
"""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crf.models import QualityOfLife
from tests.crf.factories import scheduled_patient
from tests.patients.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_nurse_transcribes_the_paper_form_with_keyboard_and_mouse_and_sees_the_stored_scores(
    page, live_server, world, login, shots, assert_accessible
):
    """The printed-paper layout (issue 26 item 4): one row per item, radios 1–4 (1–7 for items 29–30)
    in aligned columns under the questionnaire's sections, none chosen at first, each radio named
    "Item n: v"; arrow keys move within an item, Tab to the next item."""
    patient = scheduled_patient(world.site_a, arm="A")
    login(page, world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/quality_of_life/")
    legends = page.locator("fieldset.qlq-section legend").all_inner_texts()
    assert legends == [
        "QLQ-C30 items 1–5",
        "QLQ-C30 items 6–7, during the past week",
        "QLQ-C30 items 8–28, during the past week",
        "QLQ-C30 items 29–30, global health",
        "QLQ-GI.NET21 items 31–51",
    ]
    expect(page.get_by_role("radiogroup")).to_have_count(51)
    expect(page.locator("input[type=radio]:checked")).to_have_count(0)  # no answer pre-selected
    expect(page.get_by_role("radio", name="Item 12: 3", exact=True)).to_have_count(1)
    expect(page.get_by_role("radio", name="Item 30: 7", exact=True)).to_have_count(1)
    expect(page.get_by_role("radio", name="Item 31: 5", exact=True)).to_have_count(0)  # the module is 1–4
    assert "Item 12" in page.inner_text("#field-q12")  # the number only: no licence text installed
    # The answer columns line up down the page, as on the paper form.
    xs = {round(page.get_by_role("radio", name=f"Item {n}: 3", exact=True).bounding_box()["x"]) for n in (1, 8, 28, 51)}
    assert len(xs) == 1
    page.fill("#id_completed_on", timezone.localdate().isoformat())
    # Keyboard: into item 1, → moves to (and chooses) 2, Tab to item 2, Space chooses 1.
    page.get_by_role("radio", name="Item 1: 1", exact=True).focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("radio", name="Item 1: 2", exact=True).is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "q2"
    page.keyboard.press("Space")
    assert page.get_by_role("radio", name="Item 2: 1", exact=True).is_checked()
    page.keyboard.press("Tab")
    # A digit chooses that answer and moves on (static/js/qlq.js): items 3–5 answered 1.
    for _ in range(3):
        page.keyboard.press("1")
    assert page.evaluate("document.activeElement.name") == "q6"
    # Mouse: every other item answered 1 (items 29–30: 1 of 7).
    for n in range(6, 52):
        page.get_by_role("radio", name=f"Item {n}: 1", exact=True).check()
    assert_accessible(page)
    shots(page, "quality-of-life-paper-1366")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/RAND/quality_of_life/")
    stored = QualityOfLife.objects.get(patient=patient)
    assert (stored.q1, stored.q2, stored.q5, stored.q30, stored.q51) == (2, 1, 1, 1, 1)
    # PF2 items 1–5 = 2, 1, 1, 1, 1: RS 1.2, 100 × (1 − 0.2/3) = 93.3 (EORTC scoring manual).
    assert stored.c30_pf2 == Decimal("93.3")
    assert page.get_by_role("radio", name="Item 1: 2", exact=True).is_checked()  # saved answers shown
    assert "93.3" in page.inner_text("main")
    assert_accessible(page)
    # A phone: the item number above its answers, the answers still in columns.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    shots(page, "quality-of-life-paper-390")


def test_an_item_answer_out_of_range_is_refused_at_the_item_and_nothing_typed_is_lost(
    page, live_server, world, login, shots, assert_accessible
):
    patient = scheduled_patient(world.site_a, arm="A")
    login(page, world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/quality_of_life/")
    page.get_by_role("radio", name="Item 3: 4", exact=True).check()
    # A tampered request (the page offers 1–4 only): the server refuses 9 at item 12.
    page.evaluate("document.getElementById('id_q12_0').value = '9'")
    page.get_by_role("radio", name="Item 12: 1", exact=True).check()
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Item 12 is answered 1–4." in page.inner_text("#field-q12")
    assert page.get_by_role("radio", name="Item 3: 4", exact=True).is_checked()  # kept
    assert not QualityOfLife.objects.filter(patient=patient).exists()
    assert_accessible(page)
    shots(page, "quality-of-life-error-at-item")


def test_a_male_patients_eligibility_form_has_no_pregnancy_question(
    page, live_server, world, login, shots, assert_accessible
):
    man = PatientFactory(site=world.site_a, sex="M")
    login(page, world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/patients/{man.trial_number}/eligibility/")
    expect(page.locator("[name=pregnant_or_breastfeeding]")).to_have_count(0)
    expect(page.locator("[name=unwilling_contraception]")).to_have_count(1)
    assert "Not asked of a male patient" in page.inner_text("#not-asked")
    assert_accessible(page)
    shots(page, "eligibility-male")
