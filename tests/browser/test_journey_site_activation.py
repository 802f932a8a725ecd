"""Journey: the trial manager registers a site, completes its checklist and activates it; the PI
signs off a nurse's delegation, after which the nurse sees the site."""

import datetime as dt

import pytest
from django.utils import timezone

from sites.models import Site
from tests.accounts.factories import UserFactory
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_trial_manager_registers_and_activates_a_site(page, live_server, world, login, shots, assert_accessible):
    pi = UserFactory(full_name="Dr Amélie Laurent", username="pi.fr01")
    login(page, world.trial_manager)
    assert_accessible(page)
    shots(page, "home")

    page.goto(f"{live_server.url}/sites/new/")
    page.fill("#id_code", "FR01")
    page.fill("#id_name", "Gustave Roussy, Villejuif")
    page.select_option("#id_country", "FR")
    page.select_option("#id_timezone", "Europe/Paris")
    page.select_option("#id_pi", str(pi.pk))
    page.fill("#id_recruitment_target", "12")
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    page.fill("#id_ethics_approval_date", yesterday)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/sites/FR01/")
    assert "Pending activation" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "pending-site")

    # Activation asks for confirmation first (issue 26); dismissing it changes nothing.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=Activate site")
    assert asked and "Activate site FR01?" in asked[0]
    assert "Pending activation" in page.inner_text("main") and not page.locator(".alert-danger").count()
    # Activation is refused while the checklist is incomplete, naming what is missing.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Activate site")
    alert = page.inner_text(".alert-danger")
    assert "Contract signed date" in alert and "PI GCP certificate on file" in alert

    page.click("text=Edit")
    for field in ("rd_approval_date", "contract_signed_date", "initiation_visit_date"):
        page.fill(f"#id_{field}", yesterday)
    page.check("#id_pi_cv_on_file")
    page.check("#id_pi_gcp_on_file")
    page.click("main button[type=submit]")
    # Saved data needs a reason: the form says so next to the field and keeps what was typed.
    assert "Give a reason for changing saved data." in page.inner_text("#div_id_reason")
    assert page.input_value("#id_contract_signed_date") == yesterday
    assert_accessible(page)
    shots(page, "reason-required")
    page.fill("#id_reason", "Checklist documents received")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/sites/FR01/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Activate site")
    assert "is now active" in page.inner_text(".alert-success")
    shots(page, "active-site")
    assert Site.objects.get(code="FR01").status == Site.Status.ACTIVE

    page.goto(f"{live_server.url}/sites/FR01/history/")
    history = page.inner_text("main")
    assert "Checklist documents received" in history and world.trial_manager.full_name in history
    assert_accessible(page)
    shots(page, "history")


def test_pi_signs_off_a_delegation_on_a_phone(browser, live_server, world, login, shots, assert_accessible, password):
    from core.roles import SiteRole
    from sites.models import Duty
    from sites.services import delegation_add

    newcomer = UserFactory(full_name="Nadia Osei")
    delegation_add(
        actor=world.trial_manager,
        site=world.site_a,
        user=newcomer,
        role=SiteRole.RESEARCH_NURSE,
        duties=[Duty.CRF_ENTRY, Duty.CONSENT],
        start_date=timezone.localdate(),
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    login(page, world.pi_a)
    page.goto(f"{live_server.url}/sites/GB01/")
    page.click("text=Sign off")
    assert "I delegate the listed trial duties" in page.inner_text("main")
    page.fill("#id_username", world.pi_a.username)  # the first signing of the session: user id too
    page.fill("#id_password", "not-my-password")
    page.check("#id_accept")
    page.click("main button:has-text('Sign')")
    assert "The password is not correct" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "wrong-password")
    page.fill("#id_password", password)
    page.check("#id_accept")
    page.click("main button:has-text('Sign')")
    page.wait_for_url(f"{live_server.url}/sites/GB01/")
    assert "Delegation signed off." in page.inner_text(".alert-success")
    shots(page, "signed")
    context.close()


pytestmark = requirement_marks(pytestmark, "URS-UX-001", "URS-SITE-001", "URS-SITE-002")
