"""The nurse's home panels are cached per site until that site's visits, queries, patients or
re-consent tasks change: never stale after a save, never shared with or moved on by another site."""

import datetime as dt
import uuid
from decimal import Decimal
from functools import partial

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.site_cache import site_data_changed, sites_stamp
from crf import services
from crf.models import Demographics
from patients.models import Patient, ReconsentTask
from tests.crf.factories import scheduled_patient
from tests.patients.factories import ConsentDocumentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _home(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def _panels(page: str) -> str:
    return page.split('id="due-heading"')[1].split('id="sites-heading"')[0]


def test_a_second_look_reads_the_panels_from_the_cache(client, world):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    first, cold = _home(client)
    again, warm = _home(client)
    assert warm <= cold - 8  # the counts and lists of four panels
    assert _panels(again) == _panels(first) and "Overdue (2)" in first


def test_every_kind_of_save_at_the_site_shows_at_once(client, world, django_capture_on_commit_callbacks):
    # The generation moves on when the save commits (crf.receivers): each save here "commits".
    committed = partial(django_capture_on_commit_callbacks, execute=True)
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    _home(client)
    overdue = patient.visits.get(code="C1")
    with committed():
        services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_a)
    page, _n = _home(client)
    assert "Overdue (1)" in page
    with committed():
        form = services.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"height_cm": Decimal("170"), "weight_kg": Decimal("70")},
            actor=world.nurse_a,
        )
        services.query_raise(form=form, field="height_cm", text="Please check the height", actor=world.data_manager)
    page, _n = _home(client)
    assert "1 open query" in page and "Please check the height" in page
    with committed():
        newcomer = PatientFactory(site=world.site_a)
    page, _n = _home(client)
    assert newcomer.trial_number in _panels(page)  # recent patients
    with committed():
        ReconsentTask.objects.create(patient=newcomer, document=ConsentDocumentFactory())
    page, _n = _home(client)
    assert "Re-consent due" in _panels(page)
    withdrawn = Patient.objects.get(pk=patient.pk)
    withdrawn.status = Patient.Status.WITHDRAWN
    with committed():
        withdrawn.save()
    page, _n = _home(client)
    assert "Overdue (" not in page and patient.trial_number + " · " not in page


def test_another_sites_change_neither_shows_nor_empties_the_cache(client, world, django_capture_on_commit_callbacks):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    other = scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    before, cold = _home(client)
    overdue = other.visits.get(code="C1")
    with django_capture_on_commit_callbacks(execute=True):
        services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_b)
    after, warm = _home(client)
    assert warm <= cold - 8 and _panels(after) == _panels(before)
    assert other.trial_number not in before
    client.force_login(world.nurse_b)
    theirs, _n = _home(client)
    assert "Overdue (2)" in before and "Overdue (1)" in theirs
    assert other.trial_number in theirs and _panels(theirs) != _panels(before)


def test_a_save_bumps_the_generation_only_when_it_commits(world, django_capture_on_commit_callbacks):
    """Inside the transaction the old stamp stands; a rolled-back save never moves it on."""
    from django.db import transaction

    before = sites_stamp([world.site_a.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        PatientFactory(site=world.site_a)
        assert sites_stamp([world.site_a.pk]) == before
    assert len(callbacks) >= 1
    for callback in callbacks:
        callback()
    assert sites_stamp([world.site_a.pk]) != before
    after = sites_stamp([world.site_a.pk])
    with pytest.raises(RuntimeError), transaction.atomic():
        PatientFactory(site=world.site_a)
        raise RuntimeError("rolled back")
    assert sites_stamp([world.site_a.pk]) == after


def test_trial_wide_roles_have_no_site_panels(client, world):
    client.force_login(world.trial_manager)
    page, _n = _home(client)
    assert 'id="due-heading"' not in page


def test_an_evicted_or_moved_on_generation_never_brings_back_an_old_stamp(world):
    first = sites_stamp([world.site_a.pk])
    assert sites_stamp([world.site_a.pk]) == first
    cache.delete(f"site-generation:{world.site_a.pk}")  # evicted by the cache
    after_eviction = sites_stamp([world.site_a.pk])
    assert after_eviction != first
    site_data_changed(world.site_a.pk)
    moved_on = sites_stamp([world.site_a.pk])
    assert moved_on not in (first, after_eviction)
    site_data_changed(world.site_b.pk)  # another site
    assert sites_stamp([world.site_a.pk]) == moved_on
    assert sites_stamp([world.site_a.pk, world.site_b.pk]) != sites_stamp([world.site_a.pk])


def test_the_stamp_changes_with_the_day(world, monkeypatch):
    today = sites_stamp([world.site_a.pk])
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: tomorrow)
    assert sites_stamp([world.site_a.pk]) != today


@pytest.mark.postgres
def test_generations_work_on_redis_shared_by_processes(world):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: set REDIS_URL (make test and .ci/run do).")
    prefix = f"nelmas-test-{uuid.uuid4().hex}"
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    with override_settings(CACHES={"default": {**redis, "KEY_PREFIX": prefix}}):
        site_data_changed(world.site_a.pk)  # no generation yet: one is started
        first = sites_stamp([world.site_a.pk])
        other = caches.create_connection("default")  # another gunicorn worker's connection
        before = other.get(f"site-generation:{world.site_a.pk}")
        assert isinstance(before, int)
        site_data_changed(world.site_a.pk)
        assert other.get(f"site-generation:{world.site_a.pk}") == before + 1
        assert sites_stamp([world.site_a.pk]) != first
        other.delete_many([f"site-generation:{world.site_a.pk}"])


@pytest.mark.django_db(transaction=True)
def test_a_real_rolled_back_write_never_bumps_and_a_committed_one_bumps_after_commit(world):
    """Issue 21: the site's generation moves on when the writer's transaction COMMITS (crf.receivers,
    on_commit), with real transactions rather than captured callbacks: inside the transaction the
    old stamp stands (no other request may cache the old figures under a new generation), a
    rolled-back write leaves it, and the commit moves it on."""
    from django.db import transaction

    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    site = [world.site_a.pk]
    before = sites_stamp(site)
    overdue = patient.visits.get(code="C1")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_a)
        raise RuntimeError("the writer's transaction rolls back")
    assert sites_stamp(site) == before
    overdue.refresh_from_db()
    assert overdue.done_on is None  # the write really was rolled back
    with transaction.atomic():
        services.visit_mark_done(visit=overdue, day=overdue.window_start, actor=world.nurse_a)
        assert sites_stamp(site) == before  # not inside the transaction
    assert sites_stamp(site) != before  # on commit
    other = [world.site_b.pk]
    other_before = sites_stamp(other)
    with transaction.atomic():
        PatientFactory(site=world.site_a)
    assert sites_stamp(other) == other_before  # another site's figures are not moved on
