"""Every view validates what it parses (issue 19, finding 5).

Before: a "missed" or "not done" reason over the model's 300 characters was a DataError (500), a
NUL character a ValueError (500), and a site edit without a version fell back to the current
version and so skipped the conflict check. Now each is a message, and nothing is saved.
"""

import pytest
from django.urls import reverse

from crf.models import FormNotDone, Visit
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _visit_urls(patient):
    kwargs = {"trial_number": patient.trial_number, "code": "C1"}
    return (
        reverse("crf:visit_missed", kwargs=kwargs),
        reverse("crf:form_not_done", kwargs=kwargs | {"form_code": "quality_of_life"}),
    )


def test_a_reason_over_the_model_limit_is_refused_with_a_message(client, world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    limit = Visit._meta.get_field("missed_reason").max_length
    assert limit == FormNotDone._meta.get_field("reason").max_length == 300
    for url in _visit_urls(patient):
        response = client.post(url, {"reason": "x" * (limit + 1)}, follow=True)
        assert response.status_code == 200
        assert "at most 300 characters" in response.content.decode()
    visit = patient.visits.get(code="C1")
    assert visit.missed_reason == "" and not FormNotDone.objects.exists()
    exactly = client.post(_visit_urls(patient)[0], {"reason": "y" * limit})
    assert exactly.status_code == 302
    visit.refresh_from_db()
    assert visit.missed_reason == "y" * limit


@pytest.mark.parametrize("where", ["post", "get"])
def test_a_nul_character_is_a_400_naming_the_field_and_nothing_is_saved(client, world, where):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    url = _visit_urls(patient)[0]
    if where == "post":
        response = client.post(url, {"reason": "patient\x00away"})
    else:
        response = client.get(reverse("patients:patient_list"), {"q": "NEL\x00"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "NUL character" in page and ("reason" in page or "q" in page)
    assert patient.visits.get(code="C1").missed_reason == ""


def test_api_nul_is_a_json_400(client, world):
    from accounts.api_tokens import api_token_create

    key = api_token_create(user=world.nurse_a, name="nul")[1]
    response = client.get("/api/v1/queries/", {"status": "open\x00"}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 400 and response.json()["fields"] == {"status": [response.json()["message"]]}


@pytest.mark.parametrize("version", [None, "", "abc", "-1", "1.5"])
def test_a_site_edit_without_a_valid_version_is_refused_not_applied(client, world, version):
    site = world.site_a
    client.force_login(world.trial_manager)
    url = reverse("sites:site_update", kwargs={"code": site.code})
    form = client.get(url).context["form"]
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name != "version"}
    data |= {"name": "Renamed without a version", "reason": "test"}
    if version is not None:
        data["version"] = version
    response = client.post(url, data)
    assert response.status_code == 200
    assert "reload the page" in response.content.decode()
    site.refresh_from_db()
    assert site.name == "London"


pytestmark = requirement_marks(pytestmark, "URS-SEC-005", "URS-AUD-001")
