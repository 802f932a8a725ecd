"""A real Celery worker process on a private Redis queue, for tests that must not run eagerly."""

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from nelmas.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def real_worker(tmp_path, *, concurrency: int = 1):
    """Yield the queue name of a worker started against the test database and the real Redis."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("This test needs Redis: set REDIS_URL (make test and .ci/run do).")
    db = connection.settings_dict
    queue = f"test-{uuid.uuid4().hex[:8]}"  # private queue: no other worker on this Redis takes it
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "nelmas.settings",
        "NELMAS_TESTING": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path),
    }
    pool = ["--pool=solo"] if concurrency == 1 else ["--pool=threads", f"--concurrency={concurrency}"]
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "nelmas",
            "worker",
            *pool,
            "-Q",
            queue,
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    eager = celery_app.conf.task_always_eager
    broker, backend = celery_app.conf.broker_url, celery_app.conf.result_backend
    try:
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_url = redis_url
        celery_app.conf.result_backend = redis_url
        yield queue
    finally:
        celery_app.conf.task_always_eager = eager
        celery_app.conf.broker_url, celery_app.conf.result_backend = broker, backend
        worker.terminate()
        worker.wait(timeout=20)
