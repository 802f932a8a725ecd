"""The notification outbox: idempotent queueing, retry after a real SMTP failure, a real worker."""

import socket
import uuid
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from accounts.models import Notification
from core.notifications import notification_queue, notification_send, notifications_send_due
from tests.support.celery_worker import real_worker

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    """A local port with nothing listening: connecting to it is refused, like a mail server down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_queueing_twice_records_one_notification_and_sends_once(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created = notification_queue(
            kind="test", dedupe_key="k1", subject="Randomised NEL-GB01-001", body="Arm B", recipient=world.nurse_a
        )
        again, created_again = notification_queue(
            kind="test", dedupe_key="k1", subject="Randomised NEL-GB01-001", body="Arm B", recipient=world.nurse_a
        )
    assert created and not created_again and first.pk == again.pk
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [world.nurse_a.email]
    first.refresh_from_db()
    assert first.status == Notification.Status.SENT and first.attempts == 1
    notification_send(notification_id=first.pk)  # a retried task finds it sent
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_smtp_failure_leaves_the_notification_pending_and_the_next_run_sends_it(world):
    notification, _ = notification_queue(kind="test", dedupe_key="k2", subject="s", body="b", recipient=world.pi_a)
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=_closed_port(),
        EMAIL_TIMEOUT=2,
    ):
        notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 1 and "Connection" in notification.last_error
    assert notification.next_attempt_at > notification.created_at
    assert len(mail.outbox) == 0

    # Not yet due: the sweep leaves it; once due, the sweep sends it.
    assert notifications_send_due(now=notification.created_at) == 0
    assert notifications_send_due(now=notification.next_attempt_at) == 1
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT and len(mail.outbox) == 1


@pytest.mark.django_db
def test_run_periodic_jobs_runs_the_beat_schedule(world, capsys):
    Notification.objects.create(kind="t", dedupe_key="k3", to_email="x@example.org", subject="s", body="b")
    call_command("run_periodic_jobs")
    assert "send-due-notifications: 1" in capsys.readouterr().out
    assert Notification.objects.get(dedupe_key="k3").status == Notification.Status.SENT


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_a_real_worker_and_redis(world, tmp_path):
    """Not eager mode: the task goes through Redis to a worker process, which sends the e-mail."""
    notification = Notification.objects.create(
        kind="t", dedupe_key=f"rt-{uuid.uuid4()}", to_email="pi@example.org", subject="Round trip", body="b"
    )
    with real_worker(tmp_path) as queue:
        from core.tasks import send_notification

        result = send_notification.apply_async(args=[notification.pk], queue=queue)
        assert result.get(timeout=60) == Notification.Status.SENT
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    sent = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "Subject: Round trip" in sent and "pi@example.org" in sent


pytestmark = pytest.mark.requirement("URS-REM-002")
