"""The PI assesses and signs an SAE on a phone (390 × 844): the answers open blank, a missing
answer or a wrong password keeps everything chosen and typed, with the error beside its field
(protocol "Safety reporting"; 21 CFR 11.200). Screenshots and axe-core on every state (the
context bypasses the CSP only so that axe-core can be injected, as in the other journeys)."""

import pytest
from playwright.sync_api import expect

from core.signatures import signature_status
from safety import services
from safety.models import SaeReport
from tests.safety.factories import rsi, serious_ae

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
COMMENT = "Platelets 45 x10^9/L on day 14 after cycle 1; no other cause found."


def test_pi_on_a_phone_keeps_answers_through_a_missing_answer_and_a_wrong_password(
    browser, live_server, world, login, shots, assert_accessible, password
):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = services.sae_update(
        report=ae.sae_reports.get(), data={"narrative": "Admitted with bleeding gums."}, actor=world.nurse_a
    )
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True)
    page = phone.new_page()
    login(page, world.pi_a)
    page.goto(f"{live_server.url}/safety/sae/{report.pk}/")
    for name in ("lutathera", "amino_acids", "procedures"):
        assert page.input_value(f"#id_pi_causality_{name}") == ""
    assert page.input_value("#id_pi_expectedness") == ""
    assert "Site reporter's assessment: Possible" in page.inner_text("#sign-box")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    assert_accessible(page)
    shots(page, "blank-assessment")

    # Everything but the expectedness.
    page.select_option("#id_pi_causality_lutathera", "probable")
    page.select_option("#id_pi_causality_amino_acids", "unrelated")
    page.select_option("#id_pi_causality_procedures", "unlikely")
    page.fill("#id_pi_comment", COMMENT)
    page.fill("#id_username", world.pi_a.username)  # first signature of the session (21 CFR 11.200)
    page.fill("#id_password", password)
    page.check("#id_accept")
    page.click("button:has-text('Sign assessment')")
    assert page.locator("#id_pi_expectedness").evaluate("e => e.classList.contains('is-invalid')")
    assert "Choose the expectedness." in page.inner_text("#sign-box")
    assert page.input_value("#id_pi_comment") == COMMENT
    assert page.input_value("#id_pi_causality_lutathera") == "probable"
    assert page.input_value("#id_pi_causality_procedures") == "unlikely"
    assert_accessible(page)
    shots(page, "missing-expectedness")

    # A wrong password: the error at the password, the choices and the comment kept.
    page.select_option("#id_pi_expectedness", "unexpected")
    page.fill("#id_password", "not-my-password")
    page.check("#id_accept")
    page.click("button:has-text('Sign assessment')")
    error = page.locator("#id_password").locator("xpath=..").locator(".invalid-feedback")
    assert "The password is not correct. Nothing was signed." in error.inner_text()
    assert page.input_value("#id_pi_expectedness") == "unexpected"
    assert page.input_value("#id_pi_comment") == COMMENT
    box = page.locator("#id_password").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # inside the phone's width
    assert_accessible(page)
    shots(page, "wrong-password")
    assert not signature_status(obj=SaeReport.objects.get(pk=report.pk))

    page.fill("#id_password", password)
    page.check("#id_accept")
    page.click("button:has-text('Sign assessment')")
    assert "Assessment signed" in page.inner_text("main")
    shots(page, "signed")
    report = SaeReport.objects.get(pk=report.pk)
    assert services.pi_signed(report) and report.pi_comment == COMMENT
    assert report.pi_expectedness == "unexpected" and report.pi_causality_lutathera == "probable"
    phone.close()


def test_sponsor_reads_line_listing_and_timelines_and_the_nurse_picks_a_ctcae_term(
    page, live_server, world, login, shots, assert_accessible
):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    services.sae_submit(
        report=services.sae_update(report=ae.sae_reports.get(), data={"narrative": "Fever."}, actor=world.nurse_a),
        actor=world.nurse_a,
    )
    login(page, world.trial_manager)
    page.goto(f"{live_server.url}/safety/sae/{ae.sae_reports.get().pk}/")
    page.select_option("#id_causality", "probable")
    page.select_option("#id_expectedness", "unexpected")
    page.click("button:has-text('Save review')")
    assert "SUSAR" in page.inner_text("#sponsor-heading + dl")
    assert_accessible(page)
    shots(page, "sponsor-review-before-pi")
    page.goto(f"{live_server.url}/safety/line-listing/?kind=susar&start=2000-01-01&end=2099-12-31")
    assert f"{ae.patient.trial_number}-AE{ae.pk}" in page.inner_text("main")
    assert "2024-06" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "susar-line-listing")
    page.goto(f"{live_server.url}/safety/timelines/")
    assert "reg. 33(2)" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "timelines")
    page.context.clear_cookies()
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/safety/patients/{ae.patient.trial_number}/aes/new/")
    assert page.locator("#id_term").get_attribute("list") == "ctcae-terms"
    expect(page.locator("#ctcae-terms option[value='Platelet count decreased']")).to_have_count(1)
    assert_accessible(page)
    shots(page, "ae-form-term-picker")
