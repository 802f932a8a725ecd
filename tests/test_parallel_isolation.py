"""make test runs on two pytest-xdist workers: each must have its own Redis database and media root
(the test database is pytest-django's: test_<name>_gw<n>).

Expected values written by hand from the rule in nelmas/settings_test.py: worker k of n uses Redis
database (base + k × 16 // n) mod 16, 16 being redis-server's default number of databases.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nelmas.settings_test import worker_redis_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("url", "index", "count", "expected"),
    [
        ("redis://127.0.0.1:6379/0", 0, 2, "redis://127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", 1, 2, "redis://127.0.0.1:6379/8"),
        ("redis://127.0.0.1:6379/1", 1, 2, "redis://127.0.0.1:6379/9"),
        ("redis://127.0.0.1:6379/9", 1, 2, "redis://127.0.0.1:6379/1"),  # wraps round 16
        ("redis://127.0.0.1:6379", 1, 2, "redis://127.0.0.1:6379/8"),  # no path: database 0
        ("redis://127.0.0.1:6379/3", 3, 4, "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/3", 0, 1, "redis://127.0.0.1:6379/3"),  # one process: as configured
        ("", 1, 2, ""),  # no Redis: none invented
    ],
)
def test_each_worker_gets_its_own_redis_database(url, index, count, expected):
    assert worker_redis_url(url, index, count) == expected


def _test_settings(worker: str, count: str) -> dict:
    env = {
        **os.environ,
        "PYTEST_XDIST_WORKER": worker,
        "PYTEST_XDIST_WORKER_COUNT": count,
        "REDIS_URL": "redis://127.0.0.1:6379/2",
        "TEST_MEDIA_ROOT": "/srv/media-test",
    }
    probe = (
        "import json, os, nelmas.settings_test as s; "
        "print(json.dumps([s.REDIS_URL, s.CELERY_BROKER_URL, os.environ['REDIS_URL'], s.MEDIA_ROOT]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_second_worker_has_another_redis_database_and_media_root_than_the_first():
    first = _test_settings("gw0", "2")
    second = _test_settings("gw1", "2")
    assert first[:3] == ["redis://127.0.0.1:6379/2"] * 3
    assert second[:3] == ["redis://127.0.0.1:6379/10"] * 3  # settings, Celery and the real-worker tests
    assert (first[3], second[3]) == ("/srv/media-test/gw0", "/srv/media-test/gw1")
