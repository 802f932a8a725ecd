"""The CRF pages and the patient page run a fixed number of SQL queries whatever the number of
visits, forms, log entries and data queries (pinned: a change in the count fails here)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crf import services
from crf.models import ConcomitantMedication, Demographics, Laboratory
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _count(client, url):
    """Queries of a cold look: cached figures (the nurse's home totals) emptied first."""
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _fill(world, patient, n_logs):
    rand = patient.visits.get(code="RAND")
    form = services.crf_save(
        model=Demographics,
        visit=rand,
        data={"height_cm": Decimal("170"), "weight_kg": Decimal("20")},
        actor=world.nurse_a,
    )
    services.query_raise(form=form, field="height_cm", text="check", actor=world.data_manager)
    for visit in patient.visits.exclude(code__in=("LOG", "RAND")):
        services.crf_save(model=Laboratory, visit=visit, data={"haemoglobin": Decimal("120")}, actor=world.nurse_a)
    log = patient.visits.get(code="LOG")
    for i in range(n_logs):
        services.crf_save(model=ConcomitantMedication, visit=log, data={"drug": f"Drug {i}"}, actor=world.nurse_a)
    services.visit_add_unscheduled(patient=patient, day=rand.target_date, reason="extra", actor=world.nurse_a)


@pytest.mark.parametrize("role", ["nurse_a", "monitor"])
def test_patient_visit_form_and_log_pages_have_constant_query_counts(client, world, role):
    small = scheduled_patient(world.site_a, arm="A")  # 10 visits, no forms
    large = scheduled_patient(world.site_a, arm="B")  # 15 visits, many forms, queries and log entries
    _fill(world, large, n_logs=12)
    _fill(world, small, n_logs=1)
    client.force_login(getattr(world, role))
    pages = [
        ("patients:patient_detail", lambda p: [p.trial_number]),
        ("crf:visit", lambda p: [p.trial_number, "LOG"]),
        ("crf:visit", lambda p: [p.trial_number, "RAND"]),
        ("crf:form", lambda p: [p.trial_number, "RAND", "demographics"]),
        ("crf:form", lambda p: [p.trial_number, "LOG", "con_med"]),
        (
            "crf:entry",
            lambda p: [p.trial_number, "LOG", "con_med", ConcomitantMedication.objects.filter(patient=p).first().pk],
        ),
        ("crf:query_list", lambda p: []),
        ("home", lambda p: []),
    ]
    for name, args in pages:
        # One look first: the process's caches (content types, the schedule) fill on a first use,
        # whichever test happened to run before this one in the worker.
        _count(client, reverse(name, args=args(small)))
        few, many = _count(client, reverse(name, args=args(small))), _count(client, reverse(name, args=args(large)))
        assert few == many, f"{name}: {few} queries for a small casebook, {many} for a large one"
        assert many <= 40, f"{name}: {many} queries"


pytestmark = requirement_marks(pytestmark, "URS-PERF-001")
