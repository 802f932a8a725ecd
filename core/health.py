"""Health of the moving parts: database, Redis broker and the Celery worker's heartbeat."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = "nelmas:worker:heartbeat"
# The beat schedule writes a heartbeat every minute; three missed beats means the worker is down.
HEARTBEAT_MAX_AGE_SECONDS = 180


def _redis():
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def check_redis() -> bool | None:
    """True/False, or None when no broker is configured (local mode: tasks run in-process)."""
    if not settings.REDIS_URL:
        return None
    try:
        return bool(_redis().ping())
    except Exception:
        return False


def heartbeat_write() -> float:
    now = time.time()
    if settings.REDIS_URL:
        _redis().set(HEARTBEAT_KEY, str(now), ex=HEARTBEAT_MAX_AGE_SECONDS * 10)
    return now


def heartbeat_age() -> float | None:
    """Seconds since the worker last beat; None when there is no broker or no beat yet."""
    if not settings.REDIS_URL:
        return None
    try:
        value = _redis().get(HEARTBEAT_KEY)
    except Exception:
        return None
    return None if value is None else max(0.0, time.time() - float(value))


def health_report() -> tuple[dict, bool]:
    database = check_database()
    redis_ok = check_redis()
    age = heartbeat_age()
    worker = None if redis_ok is None else (age is not None and age <= HEARTBEAT_MAX_AGE_SECONDS)
    report = {
        "database": database,
        "redis": redis_ok,
        "worker": worker,
        "worker_heartbeat_age_s": None if age is None else round(age, 1),
    }
    healthy = database and redis_ok is not False and worker is not False
    return report, healthy
