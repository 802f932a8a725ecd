"""Settings come from the environment: the local mode with nothing set, services when set."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "db = s.DATABASES['default']; print(json.dumps({'engine': db['ENGINE'], "
    "'options': db.get('OPTIONS', {}), 'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': s.CELERY_BROKER_URL, "
    "'email': s.EMAIL_BACKEND, 'debug': s.DEBUG, 'secure': s.SESSION_COOKIE_SECURE}))"
)


def _settings_with(env: dict) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "NELMAS_TESTING",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
        )
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="nelmas.settings")
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_local_mode_with_nothing_set():
    result = _settings_with({})
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert cfg["engine"] == "django.db.backends.sqlite3"
    assert cfg["options"]["transaction_mode"] == "IMMEDIATE"
    assert cfg["eager"] is True
    assert cfg["email"] == "django.core.mail.backends.console.EmailBackend"
    assert cfg["debug"] is True


def test_services_mode_uses_postgresql_and_redis_and_turns_debug_off():
    result = _settings_with(
        {"DATABASE_URL": "postgres://u@db:5432/x", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "s" * 50}
    )
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert cfg["engine"] == "django.db.backends.postgresql"
    assert cfg["eager"] is False and cfg["broker"] == "redis://r:6379/0"
    assert cfg["debug"] is False and cfg["secure"] is True


def test_secret_key_is_required_outside_the_local_mode():
    result = _settings_with({"DATABASE_URL": "postgres://u@db:5432/x"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
