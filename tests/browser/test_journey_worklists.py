"""Journeys through the work lists of issue 26: the record status grid. Screenshots and axe-core
on every page."""

from decimal import Decimal

import pytest

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
    assert page.locator(".record-grid tbody tr").count() == 3
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
    assert page.locator(".sdv-queue tbody tr").count() == 2
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
    assert page.locator(".sdv-queue tbody tr").count() == 1
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
