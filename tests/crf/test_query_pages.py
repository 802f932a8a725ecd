"""Query pages (issue 26): human labels for forms, fields and visits (the labels of the CRF models
and the visit schedule, crf/models/forms.py and crf/schedule.py), the field's current value and its
history on the query page, and bulk close by the data manager (crf.services.query_close's rule:
the raiser or the data manager closes; here the data manager only, every close audited)."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from crf import services
from crf.models import LiverResection, Query
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _queried_form(world, site, nurse, days=6):
    patient = scheduled_patient(site)
    form = services.crf_save(
        model=LiverResection,
        visit=patient.visits.get(code="RAND"),
        data={"length_of_stay_days": days},
        actor=nurse,
    )
    query = services.query_raise(form=form, field="length_of_stay_days", text="Check", actor=world.data_manager)
    return form, query


def test_query_list_shows_form_field_and_visit_labels_not_codes(client, world):
    _queried_form(world, world.site_a, world.nurse_a)
    client.force_login(world.nurse_a)
    body = client.get(reverse("crf:query_list")).content.decode()
    assert "Liver resection · Length of stay" in body
    assert "Randomisation and baseline" in body
    assert "liver_resection · length_of_stay_days" not in body


def test_query_page_shows_the_current_value_and_its_history(client, world):
    form, query = _queried_form(world, world.site_a, world.nurse_a, days=6)
    services.crf_save(
        model=LiverResection,
        visit=form.visit,
        data={"length_of_stay_days": 9},
        actor=world.nurse_a,
        reason="Discharge letter says 9",
        expected_version=form.version,
        instance=form,
    )
    client.force_login(world.data_manager)
    response = client.get(reverse("crf:query_detail", args=[query.pk]))
    assert response.context["current_value"] == "9 days"
    values = [(h["value"], h["reason"]) for h in response.context["field_history"]]
    assert values == [("6 days", "First entry"), ("9 days", "Discharge letter says 9")]
    assert "Liver resection: Length of stay" in response.content.decode()


def test_data_manager_closes_selected_queries_with_one_reason_each_audited(client, world):
    _f1, first = _queried_form(world, world.site_a, world.nurse_a)
    _f2, second = _queried_form(world, world.site_a, world.nurse_a)
    _f3, untouched = _queried_form(world, world.site_a, world.nurse_a)
    client.force_login(world.data_manager)
    response = client.post(
        reverse("crf:query_bulk_close"), {"query": [first.pk, second.pk], "text": "Confirmed at monitoring visit"}
    )
    assert response.status_code == 302
    statuses = dict(Query.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "closed", second.pk: "closed", untouched.pk: "open"}
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.QUERY_CLOSED, summary="Confirmed at monitoring visit")
    assert events.count() == 2


def test_bulk_close_needs_a_reason_and_the_data_manager(client, world):
    _form, query = _queried_form(world, world.site_a, world.nurse_a)
    client.force_login(world.data_manager)
    client.post(reverse("crf:query_bulk_close"), {"query": [query.pk], "text": " "})
    query.refresh_from_db()
    assert query.status == Query.Status.OPEN
    for role in ("monitor", "nurse_a", "trial_manager"):
        client.force_login(getattr(world, role))
        assert client.post(reverse("crf:query_bulk_close"), {"query": [query.pk], "text": "x"}).status_code == 403
    query.refresh_from_db()
    assert query.status == Query.Status.OPEN


def test_site_staff_cannot_see_bulk_close(client, world):
    _queried_form(world, world.site_a, world.nurse_a)
    client.force_login(world.nurse_a)
    assert b"Close selected" not in client.get(reverse("crf:query_list")).content
    client.force_login(world.data_manager)
    assert b"Close selected" in client.get(reverse("crf:query_list")).content


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
