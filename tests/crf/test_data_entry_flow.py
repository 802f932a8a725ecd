"""Data entry in one pass (issue 26; Castor's form flow): every error of a submission at once,
field and cross-field together; "Save and next form" in the visit's order (crf/schedule.py); no
choice pre-answered for the nurse.

Error vectors from the sources: crf/models/forms.py LiverResection (number of metastases 1–100,
largest metastasis 1–300 mm) and crf.validators (CrfValidator: no date in the future;
LiverResectionValidator: complications recorded without a Clavien-Dindo grade)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crf import services
from crf.forms import crf_form_class
from crf.models import Demographics, FormStatus, LiverResection, MedicalHistory
from crf.registry import FORMS
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _url(patient, code):
    return reverse("crf:form", args=[patient.trial_number, "RAND", code])


def test_four_errors_field_and_cross_field_show_in_one_round(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client.post(
        _url(patient, "liver_resection"),
        {
            "resection_date": tomorrow.isoformat(),  # hard: in the future (cross-check, not a field format)
            "metastases_count": "0",  # range 1–100
            "largest_mm": "500",  # range 1–300 mm
            "complications": "true",  # hard: no Clavien-Dindo grade given
            "clavien_dindo": "",
            "version": "0",
            "action": "save",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"resection_date", "metastases_count", "largest_mm", "clavien_dindo"}
    assert not LiverResection.objects.exists()  # nothing saved from a refused submission

    # One resubmission with the four fixed saves the form.
    response = client.post(
        _url(patient, "liver_resection"),
        {
            "resection_date": patient.liver_resection_date.isoformat(),
            "metastases_count": "3",
            "largest_mm": "24",
            "complications": "true",
            "clavien_dindo": "II",
            "version": "0",
            "action": "save",
        },
    )
    assert response.status_code == 302
    assert LiverResection.objects.get().metastases_count == 3


def test_save_and_next_marks_a_complete_form_and_opens_the_next_of_the_visit(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    response = client.post(
        _url(patient, "demographics"),
        {"ethnicity": "white", "height_cm": "170", "weight_kg": "70", "version": "0", "action": "next"},
    )
    # RAND lists demographics, then medical history (crf/schedule.py).
    assert response["Location"] == _url(patient, "medical_history")
    assert Demographics.objects.get().status == FormStatus.COMPLETE


def test_save_and_next_keeps_an_incomplete_form_in_progress_and_says_so(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    response = client.post(
        _url(patient, "demographics"), {"height_cm": "170", "version": "0", "action": "next"}, follow=True
    )
    assert response.redirect_chain[-1][0] == _url(patient, "medical_history")
    assert Demographics.objects.get().status == FormStatus.IN_PROGRESS
    assert "2 required fields still missing" in response.content.decode()


def test_next_form_skips_forms_complete_or_not_done_and_ends_on_the_visit(client, world):
    patient = scheduled_patient(world.site_a)
    rand = patient.visits.get(code="RAND")
    history = services.crf_save(model=MedicalHistory, visit=rand, data={}, actor=world.nurse_a)
    for code in ("histopathology", "liver_resection", "laboratory", "quality_of_life", "biomarker_sample"):
        services.crf_mark_not_done(visit=rand, form_code=code, reason="test", actor=world.nurse_a)
    client.force_login(world.nurse_a)
    # From demographics: medical history is in progress, so it is next.
    response = client.post(
        _url(patient, "demographics"),
        {"ethnicity": "white", "height_cm": "170", "weight_kg": "70", "version": "0", "action": "next"},
    )
    assert response["Location"] == _url(patient, "medical_history")
    # From medical history: every other form is complete or not done: back to the visit.
    data = {"diagnosis_date": "", "version": str(history.version), "action": "next", "reason": ""}
    response = client.post(_url(patient, "medical_history"), data)
    assert response["Location"] == reverse("crf:visit", args=[patient.trial_number, "RAND"])


@pytest.mark.parametrize("code", sorted(FORMS))
def test_no_choice_is_answered_before_the_nurse_answers_it(code):
    form = crf_form_class(FORMS[code])()
    # A laboratory unit starts at the SI unit printed on the form (protocol CRF 9: values stored in
    # SI); it is a unit of measure, not an answer, and a value impossible in it is refused at the field.
    preset = {
        name: form[name].value()
        for name in form.fields
        if form[name].value() not in (None, "") and not name.endswith("_unit")
    }
    assert preset == {}


def test_save_and_next_button_names_the_next_form(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    body = client.get(_url(patient, "demographics")).content.decode()
    assert "Save and next form: Medical and NET history" in body


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
