"""Settings for the test suite: the real settings, read from the same environment, plus test speed-ups.

DATABASE_URL / REDIS_URL point at the machine's PostgreSQL and Redis in CI and `make test`.
"""

import os

os.environ.setdefault("NELMAS_TESTING", "1")

from .settings import *  # noqa: F403

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
MEDIA_ROOT = os.environ.get("TEST_MEDIA_ROOT", "/tmp/nelmas-test-media")  # noqa: S108
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
