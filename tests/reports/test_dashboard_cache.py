"""Dashboard figures are computed at most once a minute per scope, never shared across scopes."""

import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

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


def test_figures_expire_after_the_configured_seconds(world, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0  # Django: a timeout of 0 expires at once
    calls = []
    cached("x", user=world.trial_manager, compute=lambda: calls.append(1) or {"n": len(calls)})
    cached("x", user=world.trial_manager, compute=lambda: calls.append(1) or {"n": len(calls)})
    assert len(calls) == 2


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

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    with override_settings(CACHES={"default": {**redis, "KEY_PREFIX": prefix}}):
        first, at = cached("recruitment", user=world.trial_manager, compute=compute)
        # Another process's view of the same Redis: a separate connection, nothing in memory.
        other = caches.create_connection("default")
        key = f"dashboard:recruitment:{timezone.localdate().isoformat()}:all"
        assert other.get(key) == (first, at)
        again, at_again = cached("recruitment", user=world.trial_manager, compute=compute)
        assert again == first == {"n": 1} and at_again == at and len(calls) == 1
        other.delete(key)  # not clear(): that would empty the Redis database Celery uses
