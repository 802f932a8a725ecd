"""The nurse's home totals are cached per site until that site's visits, queries or patients change:
never stale after a save, never shared with or moved on by another site."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crf import services
from crf.models import Demographics
from crf.selectors import site_query_summary, visits_due
from nelmas.site_cache import cached_for_sites, site_data_changed
from patients.models import Patient
from tests.crf.factories import scheduled_patient

pytestmark = pytest.mark.django_db


def _home(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.context, len(ctx.captured_queries)


def test_a_second_look_reads_the_totals_from_the_cache(client, world):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    first, cold = _home(client)
    again, warm = _home(client)
    assert warm == cold - 2  # the two totals queries
    assert again["visits"]["overdue_count"] == first["visits"]["overdue_count"] > 0
    assert again["site_queries"]["n"] == first["site_queries"]["n"]


def test_totals_follow_every_save_at_the_site_at_once(client, world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    before, _n = _home(client)
    overdue = patient.visits.get(code="C1")
    services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_a)
    after_visit, _n = _home(client)
    assert after_visit["visits"]["overdue_count"] == before["visits"]["overdue_count"] - 1
    form = services.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"height_cm": Decimal("170"), "weight_kg": Decimal("70")},
        actor=world.nurse_a,
    )
    services.query_raise(form=form, field="height_cm", text="Please check", actor=world.data_manager)
    after_query, _n = _home(client)
    assert after_query["site_queries"]["n"] == before["site_queries"]["n"] + 1
    withdrawn = Patient.objects.get(pk=patient.pk)
    withdrawn.status = Patient.Status.WITHDRAWN
    withdrawn.save()
    after_withdrawal, _n = _home(client)
    assert after_withdrawal["visits"]["overdue_count"] == 0 and after_withdrawal["visits"]["due_count"] == 0


def test_another_sites_change_neither_shows_nor_empties_the_cache(client, world):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    other = scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    before, cold = _home(client)
    overdue = other.visits.get(code="C1")
    services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_b)
    after, warm = _home(client)
    assert warm == cold - 2 and after["visits"] == before["visits"]
    client.force_login(world.nurse_b)
    theirs, _n = _home(client)
    assert before["visits"]["overdue_count"] == 2  # randomisation and cycle 1
    assert theirs["visits"]["overdue_count"] == 1  # their cycle 1 was done


def test_site_scoped_figures_never_mix_sites(world):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    mine, theirs = visits_due(user=world.nurse_a), visits_due(user=world.nurse_b)
    assert theirs["overdue_count"] == 2 * mine["overdue_count"] > 0
    assert site_query_summary(user=world.nurse_a)["n"] == 0


def test_an_evicted_generation_never_brings_back_old_figures(world):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cached_for_sites("x", [world.site_a.pk], compute) == 1
    assert cached_for_sites("x", [world.site_a.pk], compute) == 1
    cache.delete(f"site-generation:{world.site_a.pk}")  # evicted by the cache
    assert cached_for_sites("x", [world.site_a.pk], compute) == 2
    site_data_changed(world.site_a.pk)
    assert cached_for_sites("x", [world.site_a.pk], compute) == 3
    site_data_changed(world.site_b.pk)  # another site: still cached
    assert cached_for_sites("x", [world.site_a.pk], compute) == 3


def test_figures_are_recomputed_the_next_day(world, monkeypatch):
    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    cached_for_sites("x", [world.site_a.pk], compute)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: tomorrow)
    assert cached_for_sites("x", [world.site_a.pk], compute) == 2


@pytest.mark.postgres
def test_generations_work_on_redis_shared_by_processes(world):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: set REDIS_URL (make test and .ci/run do).")
    prefix = f"nelmas-test-{uuid.uuid4().hex}"
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    with override_settings(CACHES={"default": {**redis, "KEY_PREFIX": prefix}}):
        site_data_changed(world.site_a.pk)  # no generation yet: one is started
        assert cached_for_sites("x", [world.site_a.pk], compute) == {"n": 1}
        other = caches.create_connection("default")  # another gunicorn worker's connection
        before = other.get(f"site-generation:{world.site_a.pk}")
        site_data_changed(world.site_a.pk)
        assert other.get(f"site-generation:{world.site_a.pk}") == before + 1
        assert cached_for_sites("x", [world.site_a.pk], compute) == {"n": 2}
        other.delete_many([f"site-generation:{world.site_a.pk}", f"site-generation:{world.site_b.pk}"])
