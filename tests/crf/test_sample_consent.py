"""Protocol CRF 13: "Biomarker samples are expected and may be entered only while the patient's
optional sample consent stands" (CRF 2: optional consents, NETest/biobank samples)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from core.errors import DomainError
from crf import services as crf
from crf.access import expected_forms
from crf.models import BiomarkerSample
from patients import services as patients
from tests.crf.factories import scheduled_patient

pytestmark = pytest.mark.django_db

SAMPLE = {"blood_tube_id": "NT-0001"}


def _api(user):
    _token, key = api_token_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_without_sample_consent_no_sample_form_is_expected_and_none_can_be_saved(client, world):
    patient = scheduled_patient(world.site_a, sample_consent=False)
    rand = patient.visits.get(code="RAND")
    assert "biomarker_sample" not in expected_forms(rand)
    assert all("biomarker_sample" not in expected_forms(v) for v in patient.visits.all())
    with pytest.raises(DomainError) as exc:
        crf.crf_save(model=BiomarkerSample, visit=rand, data=SAMPLE, actor=world.nurse_a)
    assert exc.value.code == "no_sample_consent"
    # The page: not offered, not reachable, nothing saved by a post.
    client.force_login(world.nurse_a)
    url = reverse(
        "crf:form",
        kwargs={"trial_number": patient.trial_number, "code": "RAND", "form_code": "biomarker_sample"},
    )
    assert client.get(url).status_code == 404
    assert client.post(url, {"blood_tube_id": "NT-0001"}).status_code == 404
    visit_page = client.get(reverse("crf:visit", kwargs={"trial_number": patient.trial_number, "code": "RAND"}))
    assert "Biomarker samples" not in visit_page.content.decode()
    # The API: the same.
    response = _api(world.nurse_a).put(
        f"/api/v1/patients/{patient.trial_number}/forms/biomarker_sample/",
        {"visit": "RAND", "data": SAMPLE, "version": 0},
        format="json",
    )
    assert response.status_code == 404
    assert not BiomarkerSample.objects.exists()


def test_with_sample_consent_the_form_is_expected_and_withdrawal_stops_it(world):
    patient = scheduled_patient(world.site_a, sample_consent=True)
    rand = patient.visits.get(code="RAND")
    assert "biomarker_sample" in expected_forms(rand)
    saved = crf.crf_save(model=BiomarkerSample, visit=rand, data=SAMPLE, actor=world.nurse_a)

    patients.consent_samples_withdraw(
        actor=world.nurse_a, patient=patient, withdrawn_on=timezone.localdate(), reason="Patient no longer wishes"
    )
    fu03 = patient.visits.get(code="FU03")
    assert "biomarker_sample" not in expected_forms(fu03)
    with pytest.raises(DomainError):
        crf.crf_save(model=BiomarkerSample, visit=fu03, data=SAMPLE, actor=world.nurse_a)
    # The sample taken under consent stays recorded and visible at its visit.
    rand = patient.visits.get(code="RAND")
    assert "biomarker_sample" in expected_forms(rand) and BiomarkerSample.objects.get(pk=saved.pk)
    consent = patient.consents.get()
    assert consent.samples_withdrawn_on == timezone.localdate()
    assert consent.history.first().history_change_reason == "Sample consent withdrawn: Patient no longer wishes"


def test_sample_consent_withdrawal_needs_a_reason_and_a_date_not_before_consent(world):
    patient = scheduled_patient(world.site_a, sample_consent=True)
    with pytest.raises(DomainError) as exc:
        patients.consent_samples_withdraw(
            actor=world.nurse_a, patient=patient, withdrawn_on=timezone.localdate(), reason=""
        )
    assert exc.value.field == "reason"
    with pytest.raises(DomainError) as exc:
        patients.consent_samples_withdraw(
            actor=world.nurse_a,
            patient=patient,
            withdrawn_on=patient.consents.get().consented_at.date() - dt.timedelta(days=1),
            reason="x",
        )
    assert exc.value.field == "withdrawn_on"
