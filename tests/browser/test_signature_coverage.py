"""The casebook and SAE pages of signatures taken before a column was added (issue 23 decision;
21 CFR 11.50: the signed record shows what was signed; 11.70). A casebook sign-off from before crf
0008 added the CTCAE grades still shows as signed after the backfill derived them, and the grades are
listed beside it as "derived after signing, not covered by the signature"; a change to a value it
covers then shows it invalidated. An SAE signature from before safety 0003 added the PI's comment
lists the comment as not covered. Screenshots and axe-core on every state."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crf import services
from crf.backfill import derived_values_backfill
from crf.models import Laboratory
from safety import services as safety_services
from safety.models import SaeReport
from tests.crf.test_casebook import _legacy_sign_off, _with_pre_0008_panel, finished  # noqa: F401 - fixture
from tests.safety.factories import rsi, serious_ae
from tests.safety.test_reporting import ASSESSMENT, _legacy_sae_signature

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_legacy_sign_off_after_the_grade_backfill_shows_signed_with_the_grades_not_covered(
    browser, live_server, world, finished, login, shots, assert_accessible  # noqa: F811 - the fixture
):
    lab = _with_pre_0008_panel(finished, world.nurse_a)
    _legacy_sign_off(finished, world.pi_a)
    derived_values_backfill()  # platelets 60 ×10⁹/L: CTCAE v5.0 grade 2 (< 75–50)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    login(page, world.pi_a)
    page.goto(live_server.url + reverse("crf:casebook", args=[finished.trial_number]))
    signature = page.locator(".signature").first
    assert signature.locator(".badge").inner_text() == "Signed"
    listed = signature.locator(".signature-not-covered")
    assert listed.is_visible()
    text = listed.inner_text()
    assert "CTCAE v5 grade: Platelet count decreased: 2" in text
    assert "derived after signing, not covered by the signature" in text
    assert_accessible(page)
    shots(page, "legacy-sign-off-signed-grades-not-covered")

    services.crf_save(
        model=Laboratory, visit=lab.visit, data={"platelets": Decimal(45)}, actor=world.nurse_a, reason="Repeat count"
    )
    page.reload()
    signature = page.locator(".signature").first
    assert signature.locator(".badge").inner_text() == "Signature invalidated"
    assert "Repeat count" in signature.inner_text()
    assert_accessible(page)
    shots(page, "legacy-sign-off-invalidated")
    context.close()


def test_an_sae_signature_from_before_the_pi_comment_column_shows_signed_and_the_comment_not_covered(
    browser, live_server, world, login, shots, assert_accessible, password
):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = safety_services.sae_update(
        report=ae.sae_reports.get(), data={"narrative": "Admitted with fever 38.9."}, actor=world.nurse_a
    )
    report = safety_services.sae_sign(
        report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT | {"pi_comment": "Febrile"}
    )
    _legacy_sae_signature(SaeReport.objects.get(pk=report.pk), world.pi_a)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    login(page, world.pi_a)
    page.goto(live_server.url + reverse("safety:sae_detail", args=[report.pk]))
    badges = page.locator(".signature .badge").all_inner_texts()
    assert badges == ["Signed", "Signed"]
    listed = page.locator(".signature-not-covered")
    assert listed.count() == 1 and "investigator's comment: Febrile" in listed.inner_text()
    assert_accessible(page)
    shots(page, "sae-legacy-signature-comment-not-covered")
    context.close()
