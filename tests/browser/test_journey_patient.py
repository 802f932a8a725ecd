"""Journey: a nurse screens and registers a patient, enters eligibility, the PI confirms it on a
phone, and the nurse randomises. Screenshots of each key page; axe-core on each."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import Patient
from randomisation import services as randomisation_services
from randomisation.models import Allocation
from tests.patients.factories import ConsentDocumentFactory
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _set_date(page, selector, day: dt.date):
    page.fill(selector, day.isoformat())


def test_nurse_registers_pi_confirms_eligibility_nurse_randomises(
    browser, page, live_server, world, login, shots, assert_accessible, password
):
    ConsentDocumentFactory(document_version="4.0")
    randomisation_services.config_save(
        actor=world.statistician,
        data={"method": "blocks", "factors": list(randomisation_services.DEFAULT_FACTORS), "block_sizes": [2, 4]},
    )
    randomisation_services.list_generate(actor=world.statistician)
    today = timezone.localdate()
    surgery = today - dt.timedelta(days=40)

    login(page, world.nurse_a)
    # Screening log
    page.goto(f"{live_server.url}/patients/screening/")
    page.click("text=Add at GB01")
    page.fill("#id_age", "63")
    page.select_option("#id_sex", "F")
    page.check("#id_eligible")
    page.click("main button[type=submit]")
    assert "Added to the screening log" in page.inner_text(".alert-success")
    assert_accessible(page)
    shots(page, "screening-log")

    # Registration with consent
    page.goto(f"{live_server.url}/patients/sites/GB01/register/")
    page.select_option("#id_screening", index=1)
    page.fill("#id_initials", "mw")
    page.fill("#id_year_of_birth", "1963")
    page.select_option("#id_sex", "F")
    _set_date(page, "#id_liver_resection_date", surgery)
    _set_date(page, "#id_primary_resection_date", surgery)
    page.select_option(
        "#id_document", label="PIS/ICF v4.0 (" + (today - dt.timedelta(days=200)).strftime("%d %b %Y") + ")"
    )
    page.fill("#id_consented_at", (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.check("#id_samples_biobank")
    assert_accessible(page)
    shots(page, "registration-form")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/patients/NEL-GB01-001/")
    assert "Registered as NEL-GB01-001" in page.inner_text(".alert-success")
    shots(page, "patient-registered")

    # Eligibility, answered by the nurse
    page.get_by_role("link", name="Start eligibility").click()
    _set_date(page, "#id_assessed_on", surgery + dt.timedelta(days=30))
    answers = {
        "consent_before_procedures": "true",
        "histology_confirmed": "true",
        "nec": "false",
        "liver_mets_histology_confirmed": "true",
        "primary_resected": "true",
        "mri_no_extrahepatic": "true",
        "pet_no_extrahepatic": "true",
        "unresectable_disease": "false",
        "pregnant_or_breastfeeding": "false",
        "unwilling_contraception": "false",
        "prior_prrt": "false",
    }
    for field, value in answers.items():
        page.select_option(f"#id_{field}", value)
    page.fill("#id_ecog", "0")
    page.select_option("#id_primary_site", "pancreas")
    page.fill("#id_ki67_percent", "4")
    page.fill("#id_mitoses_per_2mm2", "1")  # with Ki-67 sets the WHO grade (protocol CRF 6)
    page.select_option("#id_who_grade", "G2")
    page.select_option("#id_resection_margin", "R0")
    _set_date(page, "#id_mri_date", surgery - dt.timedelta(days=30))
    _set_date(page, "#id_pet_date", surgery - dt.timedelta(days=60))
    assert_accessible(page)
    shots(page, "eligibility-form")
    page.click("main button[type=submit]")
    assert "Eligibility answers saved" in page.inner_text(".alert-success")
    assert "confirms eligibility" in page.inner_text("main")

    # The PI confirms on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True)
    pi_page = phone.new_page()
    login(pi_page, world.pi_a)
    pi_page.goto(f"{live_server.url}/patients/NEL-GB01-001/")
    pi_page.get_by_role("link", name="Confirm eligibility").click()
    assert "Every inclusion criterion is met" in pi_page.inner_text("main")
    pi_page.fill("#id_username", world.pi_a.username)  # first signature of the session (21 CFR 11.200)
    pi_page.fill("#id_password", password)
    pi_page.check("#id_accept")
    assert_accessible(pi_page)
    shots(pi_page, "pi-confirms-on-phone")
    pi_page.click("main button:has-text('Sign')")
    pi_page.wait_for_url(f"{live_server.url}/patients/NEL-GB01-001/")
    assert "Eligibility confirmed: Eligible" in pi_page.inner_text(".alert-success")
    phone.close()

    # The nurse randomises
    page.goto(f"{live_server.url}/patients/NEL-GB01-001/")
    assert "Eligible" in page.inner_text("main")
    page.get_by_role("link", name="Randomise", exact=True).first.click()
    assert "Randomisation cannot be undone" in page.inner_text("main")
    assert_accessible(page)
    page.get_by_role("button", name="Randomise now").click()
    page.wait_for_url(f"{live_server.url}/randomisation/patients/NEL-GB01-001/result/")
    allocation = Allocation.objects.get()
    assert f"Arm {allocation.arm}" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "randomised")
    assert Patient.objects.get().status == Patient.Status.RANDOMISED


pytestmark = requirement_marks(pytestmark, "URS-UX-001", "URS-PAT-003", "URS-RAND-001")
