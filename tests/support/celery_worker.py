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
_KEYS = ("task_always_eager", "broker_url", "result_backend")


def forget_connections(app) -> None:
    """Let the app connect afresh to the configured broker and result store (what Celery does after
    a fork). Celery caches the result backend (``app._backend``) and the producer pool in
    ``app.amqp``: changing ``conf`` alone leaves them pointing at the old server, so a later test in
    the same process would talk to a Redis that another test had started and stopped. Closing the
    pools instead would close kombu's shared ones under the other tests."""
    app._pool = None
    # Celery 5.7 keeps a thread-safe backend in _backend_cache, any other in a thread-local.
    app._backend_cache = None
    vars(app._local).pop("backend", None)
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None


@contextlib.contextmanager
def celery_pointed_at(app, **conf):
    """Run the block with ``conf`` (eager flag, broker, result store) set on the app, then restore
    what was there; cached connections are dropped on the way in and out."""
    saved = {k: app.conf[k] for k in _KEYS}
    app.conf.update(conf)
    forget_connections(app)
    try:
        yield app
    finally:
        app.conf.update(saved)
        forget_connections(app)


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
    try:
        with celery_pointed_at(celery_app, task_always_eager=False, broker_url=redis_url, result_backend=redis_url):
            yield queue
    finally:
        worker.terminate()
        worker.wait(timeout=20)
