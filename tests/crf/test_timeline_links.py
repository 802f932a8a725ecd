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


def _next_line(page: str) -> str:
    return page.split('id="next-heading"')[1].split("</section>")[0]


def test_the_patient_page_names_the_open_visit_whose_window_closes_first(client, world):
    from crf import services

    patient = scheduled_patient(world.site_a, arm="B", resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    visits = {v.code: v for v in patient.visits.all()}
    first = _next_line(client.get(patient.get_absolute_url()).content.decode())
    assert "Randomisation and baseline" in first and "Overdue" in first  # closed first, still open
    services.visit_mark_done(visit=visits["RAND"], day=visits["RAND"].window_start, actor=world.nurse_a)
    services.visit_mark_missed(visit=visits["C1"], reason="Patient unwell", actor=world.nurse_a)
    then = _next_line(client.get(patient.get_absolute_url()).content.decode())
    open_visits = [v for v in patient.visits.all() if v.code not in ("RAND", "C1", "LOG")]
    waiting = sorted(open_visits, key=lambda v: (v.window_end, v.sequence))
    assert waiting[0].label in then and "Randomisation and baseline" not in then
    for visit in patient.visits.exclude(code="LOG"):
        if visit.done_on is None and not visit.missed_reason:
            services.visit_mark_missed(visit=visit, reason="Lost to follow-up", actor=world.nurse_a)
    assert "No visit is waiting." in _next_line(client.get(patient.get_absolute_url()).content.decode())
