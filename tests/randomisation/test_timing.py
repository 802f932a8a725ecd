"""Time to randomisation (protocol, Eligibility): "Randomisation is expected by week 10 after liver
resection (cycle 1 window closes at 10 weeks): warn from week 8, and require a recorded reason
(protocol deviation) after week 10 (configurable)". Week 8 begins on day 56, week 10 ends on day 70."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from randomisation.models import Allocation
from randomisation.services import patient_randomise
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _resected(make_patient, days_ago):
    resection = timezone.localdate() - dt.timedelta(days=days_ago)
    return make_patient(liver_resection_date=resection, primary_resection_date=resection)


@pytest.mark.parametrize(("days", "warn"), [(55, False), (56, True), (70, True)])
def test_randomisation_is_warned_from_week_8_and_allowed_to_day_70_without_a_reason(
    client, world, blocks_design, make_patient, days, warn
):
    patient = _resected(make_patient, days)
    client.force_login(world.nurse_a)
    page = client.get(reverse("randomisation:randomise", kwargs={"trial_number": patient.trial_number}))
    assert ('id="randomisation-timing"' in page.content.decode()) is warn
    allocation = patient_randomise(patient=patient, actor=world.nurse_a)
    assert allocation.late_reason == ""


def test_after_week_10_randomisation_needs_the_deviation_reason_which_is_recorded(
    client, world, blocks_design, make_patient
):
    patient = _resected(make_patient, 71)
    with pytest.raises(DomainError) as exc:
        patient_randomise(patient=patient, actor=world.nurse_a)
    assert exc.value.field == "late_reason" and "protocol deviation" in exc.value.message
    assert not Allocation.objects.exists()
    client.force_login(world.nurse_a)
    url = reverse("randomisation:randomise", kwargs={"trial_number": patient.trial_number})
    refused = client.post(url, {"late_reason": ""})
    assert refused.status_code == 200 and "late_reason" in refused.context["form"].errors
    assert not Allocation.objects.exists()
    client.post(url, {"late_reason": "MRI slot delayed by 2 weeks"})
    allocation = Allocation.objects.get(patient=patient)
    assert allocation.late_reason == "MRI slot delayed by 2 weeks"
    assert allocation.history.first().history_change_reason.startswith("Randomised late (protocol deviation)")


def test_the_limits_are_configurable(world, blocks_design, make_patient, settings):
    settings.RANDOMISATION_TIMING = {"DEVIATION_AFTER_DAYS": 84}
    patient = _resected(make_patient, 80)
    assert patient_randomise(patient=patient, actor=world.nurse_a).late_reason == ""


def test_the_api_takes_the_deviation_reason(world, blocks_design, make_patient):
    from rest_framework.test import APIClient

    from accounts.api_tokens import api_token_create

    patient = _resected(make_patient, 75)
    _token, key = api_token_create(user=world.nurse_a, name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/patients/{patient.trial_number}/randomise/"
    refused = api.post(url, {}, format="json")
    assert refused.status_code == 400 and "late_reason" in refused.json()["fields"]
    done = api.post(url, {"late_reason": "Patient on holiday"}, format="json")
    assert done.status_code == 200 and done.json()["late_reason"] == "Patient on holiday"


pytestmark = requirement_marks(pytestmark, "URS-RAND-001")
