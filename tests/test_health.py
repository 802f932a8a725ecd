"""/healthz reports the database, Redis and the worker heartbeat."""

import json
import logging
import os

import pytest
from django.urls import reverse

from core import health
from nelmas.logging import JsonFormatter


@pytest.mark.django_db
def test_local_mode_health_is_the_database_only(client, settings):
    settings.REDIS_URL = ""
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": True, "redis": None, "worker": None, "worker_heartbeat_age_s": None}


@pytest.mark.django_db
def test_with_redis_a_missing_heartbeat_is_unhealthy_and_a_fresh_one_healthy(client, settings):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("This test needs Redis: set REDIS_URL (make test and .ci/run do).")
    settings.REDIS_URL = redis_url
    monkey_key = f"{health.HEARTBEAT_KEY}:test:{os.getpid()}"
    original = health.HEARTBEAT_KEY
    health.HEARTBEAT_KEY = monkey_key
    try:
        response = client.get(reverse("healthz"))
        assert response.status_code == 503 and response.json()["redis"] is True and response.json()["worker"] is False
        from nelmas.tasks import worker_heartbeat

        worker_heartbeat.apply()
        healthy = client.get(reverse("healthz"))
        assert healthy.status_code == 200 and healthy.json()["worker"] is True
        assert healthy.json()["worker_heartbeat_age_s"] < 5
    finally:
        health._redis().delete(monkey_key)
        health.HEARTBEAT_KEY = original


@pytest.mark.django_db
def test_unreachable_redis_is_reported(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503 and response.json()["redis"] is False


def test_json_log_lines_are_single_objects():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/x",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "Not Found: /x" and entry["time"].endswith("+00:00")


pytestmark = pytest.mark.requirement("URS-OPS-002")
