"""The notification outbox: queue e-mails idempotently, send them with retries and back-off."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification, User

MAX_ATTEMPTS = 8


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes, capped at 4 hours: a mail server outage is ridden out, not lost."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 240))


def notification_queue(
    *,
    kind: str,
    dedupe_key: str,
    subject: str,
    body: str,
    recipient: User | None = None,
    to_email: str = "",
    site_code: str = "",
) -> tuple[Notification, bool]:
    """Record an e-mail to send; returns (notification, created). Queueing twice is harmless.

    Sending is requested after the surrounding transaction commits, so a rolled-back change never
    mails anyone.
    """
    address = to_email or (recipient.email if recipient else "")
    notification, created = Notification.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={
            "kind": kind,
            "recipient": recipient,
            "to_email": address,
            "subject": subject[:200],
            "body": body,
            "site_code": site_code,
        },
    )
    if created:
        # Import cycle: core.tasks imports notification_send and notifications_send_due from this module.
        from .tasks import send_notification

        # robust: with the broker down the change stays committed and the page answers; the
        # notification stays pending and send_due_notifications (every 5 minutes) sends it.
        transaction.on_commit(lambda: send_notification.delay(notification.pk), robust=True)
    return notification, created


def notification_send(*, notification_id: int, now: datetime | None = None) -> Notification | None:
    """Send one pending notification, exactly once across workers; record a failure for retry.

    The row is locked with SKIP LOCKED, so a second worker that reaches it at the same time moves
    on instead of sending it again. Returns None when another worker holds it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=Notification.Status.PENDING)
            .first()
        )
        if notification is None:
            return Notification.objects.filter(pk=notification_id).first()
        notification.attempts += 1
        try:
            EmailMessage(
                subject=notification.subject,
                body=notification.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[notification.to_email],
            ).send(fail_silently=False)
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if notification.attempts >= MAX_ATTEMPTS:
                notification.status = Notification.Status.FAILED
            notification.next_attempt_at = now + _backoff(notification.attempts)
        else:
            notification.status = Notification.Status.SENT
            notification.sent_at = now
            notification.last_error = ""
        notification.save()
    return notification


def notifications_send_due(*, now: datetime | None = None) -> int:
    """Send every pending notification whose next attempt is due; returns how many were sent."""
    now = now or timezone.now()
    due = Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
    sent = 0
    for pk in due.values_list("pk", flat=True).order_by("next_attempt_at"):
        result = notification_send(notification_id=pk, now=now)
        if result is not None and result.status == Notification.Status.SENT:
            sent += 1
    return sent
