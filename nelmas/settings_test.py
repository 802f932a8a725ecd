"""Settings for the test suite: the real settings, read from the same environment, plus test speed-ups.

DATABASE_URL / REDIS_URL point at the machine's PostgreSQL and Redis in CI and `make test`.
"""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("NELMAS_TESTING", "1")

# Under pytest-xdist (make test runs two workers) each worker is a process of its own with its own
# test database (pytest-django adds the _gw<n> suffix); it gets its own Redis database and media root
# too, so that no worker reads or deletes what another wrote.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0
WORKER_COUNT = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), 1)
REDIS_DATABASES = 16  # redis-server's default "databases"


def worker_redis_url(url: str, index: int, count: int) -> str:
    """The Redis URL of worker ``index`` of ``count``: the configured database for the first, and for
    the others a database as far from it as the server's 16 allow (db 1 with two workers: 1 and 9),
    so that runs of different engineers, each on its own low-numbered database, stay apart."""
    if not url or count <= 1:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = (base + index * (REDIS_DATABASES // count)) % REDIS_DATABASES
    return urlunsplit(parts._replace(path=f"/{db}"))


if os.environ.get("REDIS_URL"):
    # The environment too: the real-worker and health tests read REDIS_URL from it.
    os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], WORKER_INDEX, WORKER_COUNT)

from .settings import *  # noqa: E402, F403

# Tests log in hundreds of times; the production hasher's cost is not what they test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run in-process unless a test starts a real worker against Redis on purpose.
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Each test starts with an empty cache (conftest clears it); the Redis cache of production is
# exercised by the tests that ask for it (tests/reports/test_dashboard_cache.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Most tests log in with force_login; the two-factor tests switch enforcement on themselves.
TWO_FACTOR_ENFORCED = False
MEDIA_ROOT = os.path.join(os.environ.get("TEST_MEDIA_ROOT", "/tmp/nelmas-test-media"), WORKER)  # noqa: S108
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
