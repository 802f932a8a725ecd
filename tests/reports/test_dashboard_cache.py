"""Dashboard figures are computed at most once a minute per scope, never shared across scopes, and
recomputed by the worker while the figures a minute old are shown (stale-while-revalidate)."""

import datetime as dt
import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reports import dashboards
from reports.dashboards import cached
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

URLS = ["reports:recruitment", "reports:data_quality"]


def _get(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", URLS)
def test_a_second_look_within_the_minute_reads_the_cache_and_says_how_old(client, world, url_name):
    client.force_login(world.trial_manager)
    _first, computed = _get(client, reverse(url_name))
    second, read = _get(client, reverse(url_name))
    assert read < computed
    assert b'id="computed-at"' in second.content and b"Refresh now" in second.content
    _refreshed, recomputed = _get(client, reverse(url_name) + "?refresh=1")
    assert recomputed == computed


def test_refresh_shows_new_data_the_cache_hides(client, world):
    client.force_login(world.trial_manager)
    before = client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"]
    PatientFactory(site=world.site_a)
    assert client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"] == before
    assert client.get(reverse("reports:recruitment") + "?refresh=1").context["d"]["totals"]["consented"] == before + 1


def _age_entry(user, name: str, seconds: int):
    """Make the cached figures of the user's scope ``seconds`` old (as if computed then)."""
    from django.core.cache import cache

    key = dashboards._scope_key(name, user)
    figures, _at = cache.get(key)
    cache.set(key, (figures, timezone.now() - dt.timedelta(seconds=seconds)), 3600)
    return key


def test_figures_a_minute_old_are_shown_at_once_and_recomputed_off_the_request(client, world, monkeypatch):
    """Past DASHBOARD_CACHE_SECONDS the page still answers from the cache (no aggregate in the
    request) and one refresh is queued for the scope, however many people look meanwhile."""
    from reports import tasks

    client.force_login(world.trial_manager)
    _first, computed = _get(client, reverse("reports:recruitment"))
    key = _age_entry(world.trial_manager, "recruitment", 90)
    queued = []
    monkeypatch.setattr(tasks.refresh_dashboard, "delay", lambda *args: queued.append(args))
    PatientFactory(site=world.site_a)
    stale, read = _get(client, reverse("reports:recruitment"))
    again, _read = _get(client, reverse("reports:recruitment"))
    assert read < computed  # the figures came from the cache, not from the aggregates
    assert queued == [("recruitment", world.trial_manager.pk)]  # once, not once per look
    assert stale.context["computed_at"] == again.context["computed_at"] < timezone.now() - dt.timedelta(seconds=80)
    # What the worker runs: the scope's figures recomputed, so the next look shows the new patient.
    before = stale.context["d"]["totals"]["consented"]
    tasks.refresh_dashboard(*queued[0])
    fresh = client.get(reverse("reports:recruitment"))
    assert fresh.context["d"]["totals"]["consented"] == before + 1
    assert fresh.context["computed_at"] > timezone.now() - dt.timedelta(seconds=10)
    from django.core.cache import cache

    assert cache.get(f"{key}:refreshing") is None  # the next minute may queue a refresh again


def test_the_eager_local_mode_refreshes_in_process(client, world):
    """Without a broker (make demo) the refresh runs in the request: the next look is fresh."""
    client.force_login(world.trial_manager)
    before = client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"]
    _age_entry(world.trial_manager, "recruitment", 90)
    PatientFactory(site=world.site_a)
    assert client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"] == before
    assert client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"] == before + 1


def test_figures_too_old_are_never_shown(client, world, settings, monkeypatch):
    """Past DASHBOARD_STALE_SECONDS (a worker down, say) the request computes the figures itself."""
    from reports import tasks

    settings.DASHBOARD_STALE_SECONDS = 600
    monkeypatch.setattr(tasks.refresh_dashboard, "delay", lambda *args: None)  # a worker that never runs
    client.force_login(world.trial_manager)
    before = client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"]
    PatientFactory(site=world.site_a)
    _age_entry(world.trial_manager, "recruitment", 120)
    assert client.get(reverse("reports:recruitment")).context["d"]["totals"]["consented"] == before
    _age_entry(world.trial_manager, "recruitment", 601)
    response = client.get(reverse("reports:recruitment"))
    assert response.context["d"]["totals"]["consented"] == before + 1


def test_a_refresh_for_a_deactivated_user_computes_nothing(world):
    from django.core.cache import cache

    from reports.tasks import refresh_dashboard

    world.trial_manager.is_active = False
    world.trial_manager.save()
    refresh_dashboard("recruitment", world.trial_manager.pk)
    assert cache.get(dashboards._scope_key("recruitment", world.trial_manager)) is None


def test_scopes_never_share_figures(client, world):
    """A site PI must never see figures computed for the whole trial, nor another site's."""
    client.force_login(world.trial_manager)
    trial_wide = client.get(reverse("reports:recruitment")).context["d"]
    client.force_login(world.pi_a)
    own = client.get(reverse("reports:recruitment")).context["d"]
    assert [row["site"].code for row in own["rows"]] == [world.site_a.code]
    assert len(trial_wide["rows"]) > 1
    client.force_login(world.pi_b)
    other = client.get(reverse("reports:recruitment")).context["d"]
    assert [row["site"].code for row in other["rows"]] == [world.site_b.code]


@pytest.mark.postgres
def test_the_production_cache_is_redis_shared_by_processes(world):
    """With REDIS_URL set the cache is Redis (shared by the gunicorn workers): figures computed in
    one process are read by another; keys carry the scope and the day."""
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: set REDIS_URL (make test and .ci/run do).")
    prefix = f"nelmas-test-{uuid.uuid4().hex}"
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    calls = []

    def compute(*, user):
        calls.append(1)
        return {"n": len(calls)}

    with (
        override_settings(CACHES={"default": {**redis, "KEY_PREFIX": prefix}}),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setitem(dashboards.DASHBOARDS, "recruitment", compute)
        first, at = cached("recruitment", user=world.trial_manager)
        # Another process's view of the same Redis: a separate connection, nothing in memory.
        other = caches.create_connection("default")
        key = f"dashboard:recruitment:{timezone.localdate().isoformat()}:all"
        assert other.get(key) == (first, at)
        again, at_again = cached("recruitment", user=world.trial_manager)
        assert again == first == {"n": 1} and at_again == at and len(calls) == 1
        other.delete(key)  # not clear(): that would empty the Redis database Celery uses


def test_a_broker_that_refuses_the_refresh_still_shows_the_page(client, world, monkeypatch):
    from kombu.exceptions import OperationalError

    from reports import tasks

    def refuse(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    client.force_login(world.trial_manager)
    client.get(reverse("reports:recruitment"))
    _age_entry(world.trial_manager, "recruitment", 90)
    monkeypatch.setattr(tasks.refresh_dashboard, "delay", refuse)
    response = client.get(reverse("reports:recruitment"))
    assert response.status_code == 200 and b'id="computed-at"' in response.content
