"""The patient timeline builds its form links without reverse() per form: they must be the same."""

import pytest
from django.urls import resolve, reverse

from crf.selectors import patient_timeline
from tests.crf.factories import scheduled_patient

pytestmark = pytest.mark.django_db


def test_every_timeline_link_is_what_reverse_gives_and_resolves_to_the_form(world):
    patient = scheduled_patient(world.site_a, arm="B")
    timeline = patient_timeline(patient)
    links = [(row, form) for row in timeline for form in row["forms"]]
    assert len(timeline) > 10 and len(links) > 30
    for row, form in links:
        assert row["url"] == reverse("crf:visit", args=[patient.trial_number, row["visit"].code])
        assert form["url"] == reverse("crf:form", args=[patient.trial_number, row["visit"].code, form["code"]])
        match = resolve(form["url"])
        assert match.url_name == "form" and match.kwargs["form_code"] == form["code"]


def test_the_patient_page_links_every_form_of_the_timeline(client, world):
    patient = scheduled_patient(world.site_a, arm="B")
    client.force_login(world.nurse_a)
    page = client.get(patient.get_absolute_url()).content.decode()
    for row in patient_timeline(patient):
        assert f'href="{row["url"]}"' in page
        for form in row["forms"]:
            assert f'href="{form["url"]}"' in page
