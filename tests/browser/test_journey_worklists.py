"""Journeys through the work lists of issue 26: the record status grid. Screenshots and axe-core
on every page."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from crf import services as crf
from crf.models import Demographics
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_nurse_opens_a_form_from_the_record_status_grid(page, live_server, world, login, shots, assert_accessible):
    patients = [scheduled_patient(world.site_a, arm=arm) for arm in ("A", "B", "B")]
    rand = patients[0].visits.get(code="RAND")
    crf.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    scheduled_patient(world.site_b)
    page.set_viewport_size({"width": 1366, "height": 800})
    login(page, world.nurse_a)
    page.get_by_role("link", name="Record status").click()
    expect(page.locator(".record-grid tbody tr")).to_have_count(3)
    assert_accessible(page)
    shots(page, "record-status-grid")
    page.get_by_role("link", name="Demographics: In progress").first.click()
    assert page.url.endswith(f"/crf/patients/{patients[0].trial_number}/RAND/demographics/")


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")


def test_monitor_clears_the_sdv_queue_then_sees_the_field_a_nurse_changed(
    browser, page, live_server, world, login, shots, assert_accessible, password
):
    """ICH E6(R3) 3.11.4: the monitor verifies complete forms against the source; a change after
    verification clears it, and the monitor must see what changed, by whom and when."""
    patients = [scheduled_patient(world.site_a) for _ in range(2)]
    for patient in patients:
        form = crf.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
            actor=world.nurse_a,
        )
        crf.crf_mark_complete(form=form, actor=world.nurse_a)
    page.set_viewport_size({"width": 1366, "height": 800})
    login(page, world.monitor)
    page.get_by_role("link", name="SDV").click()
    expect(page.locator(".sdv-queue tbody tr")).to_have_count(2)
    assert_accessible(page)
    shots(page, "sdv-queue")
    for _ in patients:
        page.locator(".sdv-queue tbody tr").first.get_by_role("link", name="Demographics").click()
        page.click("button:has-text('Mark source data verified')")
        assert "/reports/sdv/" in page.url  # back to the queue, the next form first
    assert "No form awaiting source data verification." in page.inner_text("main")
    shots(page, "sdv-queue-cleared")
    assert set(Demographics.objects.values_list("status", flat=True)) == {"verified"}

    # The nurse corrects the height on the first patient's verified form, with a reason.
    nurse_context = browser.new_context(locale="en-GB", timezone_id="Europe/London", bypass_csp=True)
    nurse_page = nurse_context.new_page()
    login(nurse_page, world.nurse_a)
    nurse_page.goto(f"{live_server.url}/crf/patients/{patients[0].trial_number}/RAND/demographics/")
    nurse_page.fill("#id_height_cm", "172")
    nurse_page.fill("#id_reason", "Transcription error: source says 172")
    nurse_page.click("button[value=save]")
    assert "Verification cleared by" in nurse_page.inner_text("main")
    nurse_context.close()

    page.goto(f"{live_server.url}/reports/sdv/?kind=changed")
    expect(page.locator(".sdv-queue tbody tr")).to_have_count(1)
    assert_accessible(page)
    page.get_by_role("link", name="Demographics").click()
    banner = page.locator(".sdv-cleared").inner_text()
    assert f"Verification cleared by {world.nurse_a.get_full_name()}" in banner
    assert "Transcription error" in banner
    changed = page.locator("dt.sdv-changed")  # the monitor's view is read-only: a definition list
    assert changed.count() == 1 and "Height" in changed.inner_text()
    assert "170.0 cm" in page.locator(".sdv-changed-note").inner_text()
    assert_accessible(page)
    shots(page, "monitor-sees-changed-field")


def test_nurse_completes_a_follow_up_visit_with_save_and_next_after_fixing_four_errors_at_once(
    page, live_server, world, login, shots, assert_accessible
):
    """FU03 expects follow-up, laboratory, quality of life and the biomarker sample
    (crf/schedule.py). Error vectors from crf/models/forms.py and crf.validators: ECOG 0–4,
    chromogranin A 0–100,000 µg/L, no date in the future, no follow-up imaging before the
    liver resection."""
    import datetime as dt

    from django.utils import timezone

    from crf.models import BiomarkerSample, FollowUp, Laboratory, QualityOfLife

    patient = scheduled_patient(world.site_a, arm="A", resection_days_ago=95, randomised_days_ago=60)
    today = timezone.localdate()
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/FU03/follow_up/")

    # One submission with four errors: all four are shown together.
    page.fill("#id_visit_date", (today + dt.timedelta(days=1)).isoformat())
    page.fill("#id_ecog", "7")
    page.select_option("#id_imaging_modality", "mri")
    page.fill("#id_imaging_date", (patient.liver_resection_date - dt.timedelta(days=3)).isoformat())
    page.select_option("#id_imaging_result", "ned")
    page.fill("#id_chromogranin_a", "200000")
    page.select_option("#id_netest_sample_taken", "true")
    page.select_option("#id_qol_done", "true")
    page.click("button[value=next]")
    for field in ("visit_date", "ecog", "imaging_date", "chromogranin_a"):
        assert page.locator(f"#field-{field} .invalid-feedback").count() >= 1, field
    assert_accessible(page)
    shots(page, "follow-up-four-errors")
    assert not FollowUp.objects.exists()

    # One resubmission with the four fixed, then "Save and next form" through the visit.
    page.fill("#id_visit_date", today.isoformat())
    page.fill("#id_ecog", "1")
    page.fill("#id_imaging_date", today.isoformat())
    page.fill("#id_chromogranin_a", "80")
    page.click("button[value=next]")
    assert page.url.endswith("/FU03/laboratory/")
    assert_accessible(page)
    for name, value in (
        ("sample_date", today.isoformat()),
        ("haemoglobin", "130"),
        ("anc", "4.0"),
        ("platelets", "250"),
        ("creatinine", "80"),
        ("bilirubin", "10"),
        ("albumin", "40"),
    ):
        page.fill(f"#id_{name}", value)
    shots(page, "laboratory-filled")
    page.click("button[value=next]")
    assert page.url.endswith("/FU03/quality_of_life/")
    page.fill("#id_completed_on", today.isoformat())
    for n in range(1, 31):  # the printed-paper layout: one radio group per item (issue 26)
        page.get_by_role("radio", name=f"Item {n}: 2", exact=True).check()
    page.click("button[value=next]")
    assert page.url.endswith("/FU03/biomarker_sample/")
    page.fill("#id_blood_collected_at", f"{today.isoformat()}T09:30")
    page.fill("#id_blood_tube_id", "TUBE-0001")
    page.fill("#id_shipped_on", today.isoformat())
    page.click("button[value=next]")
    assert page.url.endswith("/FU03/")  # no form of the visit left waiting: back to the visit
    assert_accessible(page)
    shots(page, "visit-complete")
    for model in (FollowUp, Laboratory, QualityOfLife, BiomarkerSample):
        assert model.objects.get().status == "complete", model.__name__


def test_data_manager_works_from_the_home_queue_and_closes_queries_in_bulk(
    page, live_server, world, login, shots, assert_accessible
):
    from crf.models import LiverResection, Query

    queries = []
    for _ in range(2):
        patient = scheduled_patient(world.site_a)
        form = crf.crf_save(
            model=LiverResection,
            visit=patient.visits.get(code="RAND"),
            data={"length_of_stay_days": 6},
            actor=world.nurse_a,
        )
        queries.append(crf.query_raise(form=form, field="length_of_stay_days", text="Check", actor=world.data_manager))
    page.set_viewport_size({"width": 1366, "height": 800})
    login(page, world.data_manager)
    assert "Your work" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "data-manager-home")
    page.get_by_role("link", name="Open queries under 7 days old").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    assert "Liver resection · Length of stay" in page.inner_text("main")
    assert_accessible(page)
    page.get_by_role("link", name="Check").first.click()
    assert "6 days" in page.locator(".current-value").inner_text()
    assert_accessible(page)
    shots(page, "query-with-value-and-history")
    page.go_back()
    for query in queries:
        page.check(f"#select-{query.pk}")
    page.fill("#bulk-reason", "Confirmed against the discharge letter")
    page.click("button:has-text('Close selected')")
    assert "2 queries closed." in page.inner_text("main")
    shots(page, "queries-closed")
    assert set(Query.objects.values_list("status", flat=True)) == {"closed"}

    # The 403 page names who can grant access.
    page.goto(f"{live_server.url}/sites/new/")
    assert_accessible(page)
