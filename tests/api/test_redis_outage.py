"""A Redis outage degrades the EDC, it does not stop it (issue 19, finding 3).

A real redis-server is started by the test on a free port, serves the cache, the API throttle and
the health check, and is stopped mid-test. From then on: a randomisation succeeds exactly once, the
API answers 200 to reads and writes, the dashboards and the nurse's home render (computed
directly), and /healthz says Redis is down. Each cache failure is logged.
"""

import logging
import shutil
import socket
import subprocess

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.api_tokens import api_token_create
from accounts.models import Notification
from randomisation.models import Allocation
from tests.crf.factories import scheduled_patient
from tests.support.celery_worker import celery_pointed_at, forget_connections
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_redis():
    """A private redis-server; yields (url, stop). Ready when it says so on stdout (no polling)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("This test needs redis-server (make test and .ci/run install it).")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if "Ready to accept connections" in line:
            break
    else:
        pytest.fail("redis-server did not start")

    def stop():
        process.terminate()
        process.wait(timeout=30)

    yield f"redis://127.0.0.1:{port}/0", stop
    if process.poll() is None:
        stop()


@pytest.fixture
def celery_app():
    from nelmas.celery import app

    with celery_pointed_at(app):  # restores the configuration and drops the private server's connections
        yield app


def test_randomisation_api_and_dashboards_keep_working_when_redis_stops(
    client, world, blocks_design, make_patient, own_redis, caplog, django_capture_on_commit_callbacks, celery_app
):
    url, stop = own_redis
    from django.conf import settings

    # The production cache configuration (nelmas/settings.py), pointed at the private server.
    caches = {"default": {**settings.REDIS_CACHE, "LOCATION": url, "KEY_PREFIX": "outage-test"}}
    with override_settings(CACHES=caches, REDIS_URL=url):
        from django.core.cache import cache

        patient = make_patient()
        _token, key = api_token_create(user=world.nurse_a, name="outage")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
        client.force_login(world.nurse_a)
        # Redis up: the cache is really Redis and really used.
        assert client.get("/api/v1/sites/", **auth).status_code == 200
        cache.set("probe", 1)
        assert cache.get("probe") == 1
        assert client.get("/healthz").json()["redis"] is True

        stop()
        assert cache.get("probe") is None  # unreachable: nothing cached, no exception
        caplog.set_level(logging.ERROR, logger="nelmas.cache")
        caplog.set_level(logging.ERROR, logger="django.db.backends.base")
        # The broker is the same Redis: e-mails are queued to it, for real, from now on.
        celery_app.conf.update(task_always_eager=False, broker_url=url, result_backend=url)
        forget_connections(celery_app)

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("randomisation:randomise", kwargs={"trial_number": patient.trial_number}),
                {"confirm": "on"},
            )
        assert response.status_code == 302, response.content[:500]
        assert Allocation.objects.filter(patient=patient).count() == 1
        with django_capture_on_commit_callbacks(execute=True):
            again = client.post(
                f"/api/v1/patients/{patient.trial_number}/randomise/", {}, content_type="application/json", **auth
            )
        assert again.status_code == 200
        assert Allocation.objects.filter(patient=patient).count() == 1  # exactly once

        # The API answers reads and writes (the throttle cannot count: it lets the request through).
        assert client.get("/api/v1/sites/", **auth).status_code == 200
        assert client.get(f"/api/v1/patients/{patient.trial_number}/", **auth).status_code == 200
        scheduled = scheduled_patient(world.site_a)
        with django_capture_on_commit_callbacks(execute=True):
            write = client.put(
                f"/api/v1/patients/{scheduled.trial_number}/forms/liver_resection/",
                {"visit": "RAND", "version": 0, "data": {"largest_mm": 30, "approach": "open"}},
                content_type="application/json",
                **auth,
            )
        assert write.status_code == 200, write.content

        # Pages that read the cache compute directly.
        assert client.get(reverse("home")).status_code == 200
        client.force_login(world.trial_manager)
        for name in ("reports:recruitment", "reports:data_quality"):
            assert client.get(reverse(name)).status_code == 200

        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["redis"] is False
        assert any("ignored" in r.getMessage().lower() for r in caplog.records)  # logged, not silent
        # The randomisation e-mails could not be queued: logged, kept in the outbox for the retry job.
        assert Notification.objects.filter(status=Notification.Status.PENDING).exists()
        assert any("on_commit" in r.getMessage() or "callback" in r.getMessage() for r in caplog.records)


pytestmark = requirement_marks(pytestmark, "URS-OPS-004", "URS-OPS-002", "URS-RAND-001")
