"""Sortable lists (issue 26): ``?sort=key`` / ``?sort=-key`` on a whitelist of columns, with
aria-sort on the sorted header (WAI-ARIA 1.2 sortable table pattern); anything else keeps the
list's own order."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crf import services as crf
from crf.models import Demographics, LiverResection
from tests.crf.factories import scheduled_patient
from tests.patients.factories import PatientFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _order(response, attr="trial_number"):
    return [getattr(row, attr) for row in response.context["page"].object_list]


def test_patient_list_sorts_by_a_whitelisted_column_both_ways(client, world):
    today = timezone.localdate()
    # Registered in this order, resected in another: 2nd earliest, 3rd latest.
    first, second, third = (
        PatientFactory(site=world.site_a, liver_resection_date=today - dt.timedelta(days=days)) for days in (40, 60, 30)
    )
    client.force_login(world.nurse_a)
    url = reverse("patients:patient_list")
    assert _order(client.get(url)) == [first.trial_number, second.trial_number, third.trial_number]
    by_resection = client.get(url, {"sort": "resection"})
    assert _order(by_resection) == [second.trial_number, first.trial_number, third.trial_number]
    assert _order(client.get(url, {"sort": "-resection"})) == [
        third.trial_number,
        first.trial_number,
        second.trial_number,
    ]
    body = by_resection.content.decode()
    assert body.count("aria-sort=") == 1 and 'aria-sort="ascending"' in body
    # Not a sortable column, or junk: the registration order, no header claims a sort.
    for junk in ("initials", "-site__pi__password", "'; DROP TABLE"):
        response = client.get(url, {"sort": junk})
        assert _order(response) == [first.trial_number, second.trial_number, third.trial_number]
        assert "aria-sort=" not in response.content.decode()


def test_query_list_sorts_by_age_and_the_sdv_queue_by_last_save(client, world):
    forms = []
    for _ in range(2):
        patient = scheduled_patient(world.site_a)
        form = crf.crf_save(
            model=LiverResection,
            visit=patient.visits.get(code="RAND"),
            data={"length_of_stay_days": 6},
            actor=world.nurse_a,
        )
        crf.query_raise(form=form, field="length_of_stay_days", text="Check", actor=world.data_manager)
        demo = crf.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
            actor=world.nurse_a,
        )
        forms.append(crf.crf_mark_complete(form=demo, actor=world.nurse_a))
    client.force_login(world.data_manager)
    queries = reverse("crf:query_list")
    oldest_first = _order(client.get(queries), "pk")  # open queries: the longest waiting first
    assert oldest_first == sorted(oldest_first)
    assert _order(client.get(queries, {"sort": "age"}), "pk") == oldest_first[::-1]  # youngest first
    assert _order(client.get(queries, {"sort": "-age"}), "pk") == oldest_first
    sdv = reverse("reports:sdv_queue")
    assert [r.form_id for r in client.get(sdv).context["rows"]] == [f.pk for f in forms]
    newest = client.get(sdv, {"sort": "-saved"})
    assert [r.form_id for r in newest.context["rows"]] == [f.pk for f in forms][::-1]
    assert 'aria-sort="descending"' in newest.content.decode()


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
