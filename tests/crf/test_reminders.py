"""Visit-window reminders: selection over a table of dates, one digest per person and site per day,
never twice (re-runs, concurrent sweeps, a real worker), a failed send retried, never names."""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from accounts.models import Notification
from core.notifications import notifications_send_due
from crf.models import Visit, VisitReminder
from crf.reminders import visit_reminders_sweep, visit_stage
from patients.models import Patient
from tests.crf.factories import scheduled_patient
from tests.support.celery_worker import real_worker

D = dt.timedelta
TODAY = dt.date(2026, 6, 15)


def _visit(start, end, **fields):
    return Visit(code="FU03", label="x", sequence=1, target_date=start, window_start=start, window_end=end, **fields)


@pytest.mark.parametrize(
    ("start", "end", "fields", "stage"),
    [
        (TODAY + D(days=8), TODAY + D(days=20), {}, None),  # opens in 8 days: not yet
        (TODAY + D(days=7), TODAY + D(days=20), {}, "opens_soon"),  # edge: exactly 7 days
        (TODAY + D(days=1), TODAY + D(days=20), {}, "opens_soon"),
        (TODAY, TODAY + D(days=20), {}, "due"),  # edge: opens today
        (TODAY - D(days=20), TODAY, {}, "due"),  # edge: closes today
        (TODAY - D(days=20), TODAY - D(days=1), {}, "overdue"),  # edge: closed yesterday
        (TODAY - D(days=20), TODAY - D(days=1), {"done_on": TODAY - D(days=3)}, None),
        (TODAY - D(days=20), TODAY - D(days=1), {"missed_reason": "In hospital"}, None),
        (TODAY, TODAY + D(days=5), {"not_applicable_reason": "Arm A"}, None),
    ],
)
def test_reminder_stage_table(start, end, fields, stage):
    assert visit_stage(_visit(start, end, **fields), TODAY, 7) == stage


@pytest.mark.django_db
def test_log_visit_is_never_reminded():
    assert visit_stage(Visit(code="LOG", window_start=TODAY, window_end=TODAY + D(days=900)), TODAY, 7) is None


@pytest.fixture
def due_patient(world):
    # Resected 100 days ago: FU03 is due, C1 overdue, C2 opens within a week? (arm B) — see the test.
    return scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60, initials="QX")


@pytest.mark.django_db
def test_sweep_sends_one_digest_per_person_and_site_with_trial_numbers_only(world, due_patient):
    scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    withdrawn = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    Patient.objects.filter(pk=withdrawn.pk).update(status=Patient.Status.WITHDRAWN)
    recorded = visit_reminders_sweep()
    assert recorded > 0
    digests = Notification.objects.filter(kind="visit_reminder")
    # Each staff member of each site gets one digest: GB01 (PI, nurse) and NL01 (PI, nurse).
    assert sorted(digests.values_list("site_code", flat=True)) == ["GB01", "GB01", "NL01", "NL01"]
    mine = digests.get(recipient=world.nurse_a)
    assert due_patient.trial_number in mine.body and "Overdue:" in mine.body and "Due now:" in mine.body
    assert withdrawn.trial_number not in mine.body
    assert "QX" not in mine.body and "NL01" not in mine.body
    assert f"/crf/patients/{due_patient.trial_number}/FU03/" in mine.body
    assert len(mail.outbox) == 0 or all("QX" not in m.body for m in mail.outbox)
    # A second run the same day (or the next day) sends nothing already sent.
    assert visit_reminders_sweep() == 0
    assert Notification.objects.filter(kind="visit_reminder").count() == 4
    rows = VisitReminder.objects.filter(recipient=world.nurse_a)
    assert {(r.visit.code, r.stage) for r in rows} >= {("FU03", "due"), ("C1", "overdue")}


@pytest.mark.django_db
def test_staff_see_their_reminders_in_the_app(client, world, due_patient):
    visit_reminders_sweep()
    client.force_login(world.nurse_a)
    page = client.get(reverse("crf:reminders")).content.decode()
    assert due_patient.trial_number in page and "Overdue" in page
    client.force_login(world.nurse_b)
    assert due_patient.trial_number not in client.get(reverse("crf:reminders")).content.decode()


@pytest.mark.django_db
def test_a_visit_reminded_as_due_is_reminded_again_when_overdue(world, due_patient):
    visit_reminders_sweep()
    fu03 = due_patient.visits.get(code="FU03")
    later = fu03.window_end + D(days=1)
    assert visit_reminders_sweep(today=later) > 0
    assert set(VisitReminder.objects.filter(visit=fu03, recipient=world.nurse_a).values_list("stage", flat=True)) == {
        "due",
        "overdue",
    }


@pytest.mark.django_db
def test_smtp_failure_leaves_the_reminder_pending_and_the_next_run_sends_it(world, due_patient):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_port,
        EMAIL_TIMEOUT=2,
    ):
        visit_reminders_sweep()
        notifications_send_due()
    digest = Notification.objects.get(kind="visit_reminder", recipient=world.nurse_a)
    assert digest.status == Notification.Status.PENDING and digest.attempts == 1 and digest.last_error
    assert VisitReminder.objects.filter(notification=digest).exists()
    assert notifications_send_due(now=digest.next_attempt_at) >= 1
    digest.refresh_from_db()
    assert digest.status == Notification.Status.SENT
    assert any(due_patient.trial_number in m.body for m in mail.outbox)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_record_and_queue_each_reminder_once(world):
    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(visit_reminders_sweep())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    per_person = Notification.objects.filter(kind="visit_reminder", recipient=world.nurse_a).count()
    assert per_person == 1
    rows = VisitReminder.objects.filter(recipient=world.nurse_a)
    assert rows.count() == len({(r.visit_id, r.stage) for r in rows}) == sum(results) // 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sweep_twice_at_once_on_a_real_worker_sends_each_reminder_once(world, tmp_path):
    from crf.tasks import send_visit_reminders

    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    with real_worker(tmp_path, concurrency=2) as queue:
        first = send_visit_reminders.apply_async(queue=queue)
        second = send_visit_reminders.apply_async(queue=queue)
        counts = [
            first.get(timeout=90, disable_sync_subtasks=False),
            second.get(timeout=90, disable_sync_subtasks=False),
        ]
        from core.tasks import send_due_notifications

        send_due_notifications.apply_async(queue=queue).get(timeout=60, disable_sync_subtasks=False)
    assert sorted(counts)[0] == 0 or sum(counts) == VisitReminder.objects.count()
    assert Notification.objects.filter(kind="visit_reminder", recipient=world.nurse_a).count() == 1
    sent = [p.read_text() for p in tmp_path.iterdir()]
    to_nurse = [m for m in sent if world.nurse_a.email in m and patient.trial_number in m]
    assert len(to_nurse) == 1


pytestmark = pytest.mark.requirement("URS-REM-001", "URS-REM-002")


@pytest.mark.django_db
def test_sweep_runs_a_fixed_number_of_queries_whatever_the_number_of_visits(world):
    from django.test.utils import CaptureQueriesContext

    def count(today):
        with CaptureQueriesContext(connection) as ctx:
            visit_reminders_sweep(today=today)
        return len(ctx.captured_queries)

    scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    few = count(TODAY + D(days=400))
    for _ in range(8):
        scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
        scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    many = count(TODAY + D(days=800))  # a later day: every one of ~270 visits is overdue and reminded
    assert VisitReminder.objects.count() > 200
    # The same four digests (two staff at each of two sites) in both runs: no query per visit.
    assert many == few, (few, many)
