"""Celery adapters for the notification outbox (conventions §9: thin, idempotent, retried)."""

from celery import shared_task

from .notifications import notification_send, notifications_send_due


@shared_task(bind=True, max_retries=5, soft_time_limit=60, time_limit=90, acks_late=True)
def send_notification(self, notification_id: int) -> str:
    """Send one queued e-mail. A failed send stays pending in the outbox; the sweep retries it."""
    notification = notification_send(notification_id=notification_id)
    return notification.status if notification is not None else "missing"


@shared_task(soft_time_limit=300, time_limit=330)
def send_due_notifications() -> int:
    return notifications_send_due()


@shared_task(soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> float:
    """Proves a worker is consuming: /healthz reports the age of the last beat."""
    from core.health import heartbeat_write

    return heartbeat_write()
