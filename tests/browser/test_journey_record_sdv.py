"""The monitor verifies consent, eligibility and SAE records from the SDV queue, a nurse changes a
verified consent, and the monitor finds it again as "changed since verified" with the banner and
the changed field on the patient's page (issue 26, item 3; ICH E6(R3) 3.11.4). Screenshots at
1366 px and axe-core on every page."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.core.records import verifiable_records
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_monitor_clears_the_record_queue_and_sees_a_nurses_change(
    page, live_server, world, login, shots, assert_accessible
):
    records = verifiable_records(world.site_a)
    verifiable_records(world.site_b)  # another site's: on the monitor's list, never on the GB01 filter
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.monitor)
    page.goto(f"{live_server.url}/reports/sdv/")
    page.get_by_role("link", name="Consent, eligibility and SAE records").click()
    page.select_option("#sdvr-site", "GB01")
    page.get_by_role("button", name="Filter").click()
    # Hand count: GB01 has two consents, one confirmed assessment, one SAE report sent.
    expect(page.locator(".sdv-record-row")).to_have_count(4)
    assert "NEL-NL01" not in page.locator(".sdv-records").inner_text()
    assert_accessible(page)
    shots(page, "record-queue-awaiting")
    for _ in range(4):
        page.locator(".sdv-record-row button", has_text="Mark verified").first.click()
        assert "Source data verified." in page.inner_text("main")
    expect(page.locator(".sdv-record-row")).to_have_count(0)
    assert "No record awaiting source data verification." in page.inner_text("main")
    shots(page, "record-queue-cleared")

    # The nurse withdraws the sample consent: a change to the verified consent.
    page.context.clear_cookies()
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/patients/{records.consent.patient.trial_number}/consent/samples/withdraw/")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    page.fill("#id_withdrawn_on", yesterday.isoformat())
    page.fill("#id_reason", "Patient asked to stop the samples")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("button", name="Mark informed consent source data verified")).to_have_count(0)

    page.context.clear_cookies()
    login(page, world.monitor)
    page.goto(f"{live_server.url}/reports/sdv/records/?status=changed")
    expect(page.locator(".sdv-record-row")).to_have_count(1)
    assert_accessible(page)
    shots(page, "record-queue-changed")
    page.locator(".sdv-record-row a", has_text="Informed consent").click()
    banner = page.locator(f"#sdv-consent-{records.consent.pk} .sdv-cleared")
    assert banner.inner_text().startswith(f"Verification cleared by {world.nurse_a.full_name} on ")
    changed = page.locator(f"#sdv-consent-{records.consent.pk} tr.sdv-changed")
    assert changed.count() == 1
    assert changed.inner_text().split("\t")[0].strip() == "Sample consent withdrawn on"
    assert_accessible(page)
    shots(page, "consent-cleared-banner")
    page.get_by_role("button", name="Mark informed consent source data verified").click()
    assert "Source data verified by" in page.locator(f"#sdv-consent-{records.consent.pk}").inner_text()

    page.goto(f"{live_server.url}/safety/sae/{records.report.pk}/")
    assert "Source data verified by" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "sae-verified")


pytestmark = requirement_marks(pytestmark, "URS-CRF-004")
