"""Journeys after randomisation: the nurse enters the surgery and dosing forms (one of them by
keyboard alone), answers a query; the monitor verifies; the PI signs an SAE on a phone; the
trial manager reads both dashboards; the data manager locks and exports. Screenshots and
axe-core on every page."""

import datetime as dt

import pytest
from django.utils import timezone

from crf import services as crf
from crf.models import Demographics, FormStatus, LiverResection, LutatheraDosing, Query
from reports.models import GeneratedFile
from safety.models import SaeReport
from tests.crf.factories import scheduled_patient
from tests.safety.factories import rsi, serious_ae
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _type_date(page, selector, day):
    """Type a date with the keyboard. Chromium orders the parts by its own UI locale (headless it
    may ignore en-GB), so try day-month-year and month-day-year and check what the field holds."""
    for pattern in ("%d%m%Y", "%m%d%Y"):
        page.fill(selector, "")  # the harness resets a wrong guess of the order; the user knows it
        page.focus(selector)
        # Step out backwards (one Tab stop per part of the date) and Tab back in: the first part.
        for _ in range(4):
            page.keyboard.press("Shift+Tab")
            if page.evaluate("document.activeElement.id") != selector[1:]:
                break
        page.keyboard.press("Tab")
        page.keyboard.type(day.strftime(pattern), delay=60)
        if page.input_value(selector) == day.isoformat():
            return
    raise AssertionError(f"could not type {day} into {selector}: got {page.input_value(selector)!r}")


def test_nurse_enters_surgery_by_keyboard_and_dosing_then_answers_a_query(
    page, live_server, world, login, shots, assert_accessible
):
    patient = scheduled_patient(world.site_a, resection_days_ago=60, randomised_days_ago=20)
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/patients/{patient.trial_number}/")
    assert "Visits" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "patient-visits")
    page.get_by_role("link", name="Randomisation and baseline").first.click()
    page.get_by_role("link", name="Liver resection").click()
    assert_accessible(page)

    # Keyboard only: focus the first field and Tab through the form, typing values.
    _type_date(page, "#id_resection_date", patient.liver_resection_date)
    for key, value in (
        ("procedure", "Major"),
        ("approach", "Open"),
        ("metastases_count", "3"),
        ("largest_mm", "24"),
        ("bilobar", "No"),
        ("perihilar_nodes", "No"),
        ("margin", "R0"),
        ("length_of_stay_days", "6"),
        ("complications", "No"),
    ):
        # Tab leaves the field (a date input has a Tab stop per part: day, month, year).
        before = page.evaluate("document.activeElement.id")
        for _ in range(4):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") != before:
                break
        focused = page.evaluate("document.activeElement.id")
        assert focused == f"id_{key}", f"Tab order: expected id_{key}, got {focused}"
        page.keyboard.type(value)  # in a select, type-ahead chooses the option
    shots(page, "surgery-typed-by-keyboard")
    # Tab past the last field to "Save and mark complete" and press Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "complete":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Saved and marked complete" in page.inner_text("main"), page.inner_text("main")[:800]
    form = LiverResection.objects.get(patient=patient)
    assert form.status == FormStatus.COMPLETE and form.procedure == "major" and form.largest_mm == 24
    assert form.resection_date == patient.liver_resection_date
    assert_accessible(page)
    shots(page, "surgery-complete")

    # Dosing: a wrong activity is refused at the field, keeping what was typed.
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/C1/lutathera_dosing/")
    page.fill("#id_dose_date", (timezone.localdate() - dt.timedelta(days=1)).isoformat())
    page.select_option("#id_dose_level", "full")
    page.fill("#id_batch_id", "LU-2611-01")
    page.fill("#id_administered_activity_mbq", "6000")
    page.click("button[value=save]")
    error = page.locator("#id_administered_activity_mbq ~ .invalid-feedback, #error_1_id_administered_activity_mbq")
    assert "7,400 MBq ± 10 %" in page.inner_text("main")
    assert error.count() >= 1
    assert page.input_value("#id_batch_id") == "LU-2611-01"
    assert_accessible(page)
    shots(page, "dosing-error-at-field")
    page.fill("#id_administered_activity_mbq", "7380")
    page.click("button[value=save]")
    assert "Saved." in page.inner_text("main")
    assert LutatheraDosing.objects.get(patient=patient).administered_activity_mbq == 7380

    # A query from the data manager, answered by the nurse from her home page.
    demo = crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": 170}, actor=world.nurse_a
    )
    crf.query_raise(
        form=demo, field="height_cm", text="Height on the clinic letter is 171 cm?", actor=world.data_manager
    )
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name=f"{patient.trial_number} RAND: Height on the clinic letter").click()
    assert_accessible(page)
    shots(page, "query-detail")
    page.fill("#id_text", "Corrected to 171 cm on the form.")
    page.click("button[value=answer]")
    assert Query.objects.get().status == Query.Status.ANSWERED


def test_monitor_verifies_and_pi_signs_an_sae_on_a_phone(
    browser, page, live_server, world, login, shots, assert_accessible, password
):
    patient = scheduled_patient(world.site_a)
    form = crf.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"ethnicity": "white", "height_cm": 170, "weight_kg": 70},
        actor=world.nurse_a,
    )
    crf.crf_mark_complete(form=form, actor=world.nurse_a)
    login(page, world.monitor)
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/demographics/")
    assert_accessible(page)
    page.click("button:has-text('Mark source data verified')")
    assert "Source data verified by" in page.inner_text("main")
    shots(page, "monitor-verified")
    assert Demographics.objects.get().status == FormStatus.VERIFIED

    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = SaeReport.objects.get(adverse_event=ae)
    report.narrative = "Admitted with fever."
    report.save()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True)
    pi_page = phone.new_page()
    login(pi_page, world.pi_a)
    pi_page.goto(f"{live_server.url}/safety/sae/{report.pk}/")
    pi_page.select_option("#id_pi_causality_lutathera", "possible")
    pi_page.select_option("#id_pi_causality_amino_acids", "unrelated")
    pi_page.select_option("#id_pi_causality_procedures", "unrelated")
    pi_page.select_option("#id_pi_expectedness", "expected")
    pi_page.fill("#id_username", world.pi_a.username)  # first signature of the session
    pi_page.fill("#id_password", password)
    pi_page.check("#id_accept")
    assert_accessible(pi_page)
    shots(pi_page, "pi-signs-sae-on-phone")
    pi_page.click("button:has-text('Sign assessment')")
    assert "Assessment signed" in pi_page.inner_text("main")
    assert world.pi_a.get_full_name() in pi_page.inner_text("main") and "UTC" in pi_page.inner_text("main")
    shots(pi_page, "sae-signed")
    phone.close()


def test_trial_manager_reads_dashboards_and_data_manager_locks_and_exports(
    page, live_server, world, login, shots, assert_accessible
):
    scheduled_patient(world.site_a)
    login(page, world.trial_manager)
    for name, path in (("recruitment", "/reports/recruitment/"), ("data-quality", "/reports/data-quality/")):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)
        shots(page, name)
    assert page.locator("table").count() >= 1
    page.context.clear_cookies()
    login(page, world.data_manager)
    page.goto(f"{live_server.url}/reports/dataset/")
    assert "Pre-lock checklist" in page.inner_text("main")
    page.fill("#lock-reason", "Interim analysis 1")
    assert_accessible(page)
    shots(page, "lock-page")
    page.click("button:has-text('Lock')")
    assert "Dataset locked" in page.inner_text("main") or "checklist" in page.inner_text("main")
    page.click("button:has-text('Export in the background')")
    page.wait_for_url("**/reports/files/*/")
    page.wait_for_selector("text=Download", timeout=30000)
    shots(page, "export-ready")
    assert GeneratedFile.objects.get(kind=GeneratedFile.Kind.DATASET_EXPORT).status == GeneratedFile.Status.DONE


pytestmark = requirement_marks(pytestmark, "URS-UX-001", "URS-CRF-002", "URS-CRF-004", "URS-SAF-002", "URS-LOCK-001")
