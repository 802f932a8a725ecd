"""Journeys through the role queues of issue 26: the PI works from the home queue, the trial
manager reviews the SDV plan, the laboratory form shows each unit beside its box. Screenshots at
1366 px (and 390 px for the form) and axe-core on every page."""

import pytest
from playwright.sync_api import expect

from tests.crf.factories import scheduled_patient
from tests.patients.factories import EligibilityAssessmentFactory, PatientFactory, eligible_answers
from tests.safety.factories import serious_ae
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_pi_works_from_the_home_queue_and_each_count_lists_that_many(
    page, live_server, world, login, shots, assert_accessible
):
    for _ in range(2):
        serious_ae(world.site_a, world.nurse_a)
    serious_ae(world.site_b, world.nurse_b)  # another site's: never on this PI's lists
    patient = PatientFactory(site=world.site_a)
    EligibilityAssessmentFactory(patient=patient, **eligible_answers(patient))
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.pi_a)
    assert_accessible(page)
    shots(page, "pi-home-queue")
    for label, expected in (("SAE reports to sign", 2), ("Eligibility assessments to confirm", 1)):
        link = page.locator(".work-queue a", has_text=label)
        assert link.locator(".queue-count").inner_text() == str(expected)
        link.click()
        expect(page.locator(".role-worklist tbody tr")).to_have_count(expected)
        assert "NEL-NL01" not in page.inner_text("main")
        assert_accessible(page)
        shots(page, f"pi-list-{label.split()[0].lower()}")
        page.go_back()
    # Sorting by a header keeps the list and says so to assistive technology.
    page.locator(".work-queue a", has_text="SAE reports to sign").click()
    page.get_by_role("link", name="Patient", exact=True).click()
    assert page.locator("th[aria-sort='ascending']").inner_text().startswith("Patient")
    page.get_by_role("link", name="Patient", exact=True).click()
    assert page.locator("th[aria-sort='descending']").inner_text().startswith("Patient")
    expect(page.locator(".role-worklist tbody tr")).to_have_count(2)
    assert_accessible(page)


def test_trial_manager_reviews_the_sdv_plan_from_the_queue(page, live_server, world, login, shots, assert_accessible):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.trial_manager)
    page.goto(f"{live_server.url}/reports/sdv/")
    page.get_by_role("link", name="SDV plan: which forms and fields").click()
    assert page.locator(".sdv-plan tbody tr").count() >= 15
    assert "Weight" in page.locator(".sdv-plan").inner_text()
    assert_accessible(page)
    shots(page, "sdv-plan")
    page.goto(f"{live_server.url}/reports/work/recruitment-behind/")
    assert_accessible(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_laboratory_units_sit_beside_their_boxes(page, live_server, world, login, shots, assert_accessible, width):
    patient = scheduled_patient(world.site_a, arm="A", resection_days_ago=95, randomised_days_ago=60)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/FU03/laboratory/")
    for name in ("haemoglobin", "platelets", "creatinine"):
        box = page.locator(f"#id_{name}").bounding_box()
        unit = page.locator(f"#id_{name}_helptext").bounding_box()
        assert unit["x"] >= box["x"] + box["width"] - 1, name  # right of the input
        assert unit["y"] < box["y"] + box["height"] and unit["y"] + unit["height"] > box["y"], name  # same row
    assert_accessible(page)
    shots(page, f"laboratory-units-{width}")


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
