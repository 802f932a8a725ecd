"""Benchmark settings: production settings on PostgreSQL, plus a bare view as the ceiling.

The password hasher is the fast one only so that building the synthetic trials through the
services (signatures re-enter passwords) takes minutes, not hours; pages are measured as served.
"""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

from nelmas.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ROOT_URLCONF = "bench.urls"
TWO_FACTOR_ENFORCED = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
DEBUG = False
# Eager while simulate_trial builds a trial; a real worker beside gunicorn while pages are measured.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("BENCH_CELERY") != "1"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
