"""Celery adapters for the CRF domain (conventions §9: thin, idempotent, time-limited)."""

from celery import shared_task

from .reminders import visit_reminders_sweep


@shared_task(soft_time_limit=300, time_limit=330)
def send_visit_reminders() -> int:
    return visit_reminders_sweep()
