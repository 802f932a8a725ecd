"""Celery adapters for safety (conventions §9: thin, idempotent, time-limited)."""

from celery import shared_task

from .escalations import sae_escalations_sweep


@shared_task(soft_time_limit=300, time_limit=330)
def send_sae_escalations() -> int:
    return sae_escalations_sweep()
