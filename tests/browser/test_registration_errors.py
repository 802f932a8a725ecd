"""Issue 22, point 7: one round of errors. A registration with three field errors and one
cross-field error shows all four after one submit, each at its field, and keeps what was typed.

The cross-field rule is protocol inclusion 6: the primary resected before or with the liver
metastases, so a primary-resection date after the liver resection is refused."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import Patient
from tests.patients.factories import ConsentDocumentFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_three_field_errors_and_one_cross_field_error_show_together_after_one_submit(
    page, live_server, world, login, shots, assert_accessible
):
    document = ConsentDocumentFactory(document_version="4.0")
    today = timezone.localdate()
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/patients/sites/GB01/register/")
    assert page.input_value("#id_sex") == ""  # no sex is pre-selected
    page.fill("#id_initials", "J1")  # field error 1: not two or three letters
    # field error 2: year of birth left empty; field error 3: sex not chosen
    page.fill("#id_liver_resection_date", (today - dt.timedelta(days=40)).isoformat())
    page.fill("#id_primary_resection_date", (today - dt.timedelta(days=10)).isoformat())  # after the liver: error 4
    page.select_option("#id_document", value=str(document.pk))
    page.fill("#id_consented_at", (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.check("#id_samples_biobank")
    page.click("main button[type=submit]")
    page.wait_for_selector("#form-errors")

    summary = page.inner_text("#form-errors")
    assert "Initials" in summary and "Year of birth" in summary and "Sex" in summary
    assert "before or with the liver metastases" in summary
    for field, text in (
        ("initials", "Two or three letters"),
        ("year_of_birth", "required"),
        ("sex", "required"),
        ("primary_resection_date", "before or with the liver metastases"),
    ):
        feedback = page.locator(f"#id_{field} ~ .invalid-feedback, #error_1_id_{field}").first
        assert text in feedback.inner_text(), field
    # What was typed is kept.
    assert page.input_value("#id_initials") == "J1"
    assert page.input_value("#id_primary_resection_date") == (today - dt.timedelta(days=10)).isoformat()
    assert page.is_checked("#id_samples_biobank")
    assert not Patient.objects.exists()
    assert_accessible(page)
    shots(page, "registration-all-errors")
