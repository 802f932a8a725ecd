"""Celery tasks of the top of the project (health); the domains' tasks live in their apps."""

from celery import shared_task

from core.health import heartbeat_write


@shared_task(soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> float:
    """Proves a worker is consuming: /healthz reports the age of the last beat."""
    return heartbeat_write()
