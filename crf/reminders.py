"""The daily visit-window reminder sweep (run by Celery beat, or ``run_periodic_jobs`` locally).

Stages: the window opens in VISIT_REMINDER_DAYS (default 7) days or fewer; the window is open; the
window closed without the visit done. Each delegated site staff member with the CRF-entry duty gets
one digest e-mail per site per day listing trial numbers and links, never names. Each reminder is
recorded before the e-mail is queued in the outbox, in one transaction, under unique constraints,
so re-runs, retries and a second worker never send a reminder twice and a failed send is retried.
The cost is a fixed number of queries per site, whatever the number of visits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.notifications import notification_queue
from patients.models import Patient
from sites.models import Delegation, Duty

from .models import Visit, VisitReminder

STAGE = VisitReminder.Stage


def reminder_days() -> int:
    return getattr(settings, "VISIT_REMINDER_DAYS", 7)


def visit_stage(visit: Visit, today: dt.date, days: int) -> str | None:
    """Which reminder a visit calls for today, if any (the visit is still expected)."""
    if visit.done_on or visit.missed_reason or visit.not_applicable_reason or visit.is_log:
        return None
    if visit.window_end < today:
        return STAGE.OVERDUE
    if visit.window_start <= today:
        return STAGE.DUE
    if visit.window_start <= today + dt.timedelta(days=days):
        return STAGE.OPENS_SOON
    return None


def reminder_candidates(today: dt.date, days: int) -> list[tuple[Visit, str]]:
    """(visit, stage) for on-study patients: one query."""
    visits = (
        Visit.objects.open_on(today)
        .filter(window_start__lte=today + dt.timedelta(days=days))
        .exclude(patient__status__in=Patient.OFF_STUDY)
        .select_related("patient__site")
        .order_by("patient__site__code", "window_end", "patient__trial_number")
    )
    return [(v, stage) for v in visits if (stage := visit_stage(v, today, days))]


def _staff_by_site(site_ids) -> dict[int, list]:
    staff = defaultdict(list)
    for entry in Delegation.objects.current().filter(site_id__in=site_ids).select_related("user"):
        if Duty.CRF_ENTRY in (entry.duties or []) and entry.user not in staff[entry.site_id]:
            staff[entry.site_id].append(entry.user)
    return staff


def _digest(site, rows, today) -> tuple[str, str]:
    labels = {STAGE.OPENS_SOON: "Window opens soon", STAGE.DUE: "Due now", STAGE.OVERDUE: "Overdue"}
    lines = [f"NELMAS visit reminders for site {site.code}, {today:%d %b %Y}.", ""]
    for stage in (STAGE.OVERDUE, STAGE.DUE, STAGE.OPENS_SOON):
        chosen = [v for v, s in rows if s == stage]
        if not chosen:
            continue
        lines.append(f"{labels[stage]}:")
        for visit in chosen:
            url = settings.EDC_BASE_URL + reverse("crf:visit", args=[visit.patient.trial_number, visit.code])
            lines.append(
                f"  {visit.patient.trial_number} {visit.code} ({visit.label}), window "
                f"{visit.window_start:%d %b} – {visit.window_end:%d %b %Y}: {url}"
            )
        lines.append("")
    overdue = sum(1 for _v, s in rows if s == STAGE.OVERDUE)
    subject = f"NELMAS {site.code}: {len(rows)} visit reminder(s)" + (f", {overdue} overdue" if overdue else "")
    return subject, "\n".join(lines)


def visit_reminders_sweep(*, today: dt.date | None = None) -> int:
    """Queue today's digests; returns the number of reminders recorded by this run."""
    today = today or timezone.localdate()
    candidates = reminder_candidates(today, reminder_days())
    by_site = defaultdict(list)
    for visit, stage in candidates:
        by_site[visit.patient.site].append((visit, stage))
    staff = _staff_by_site([site.pk for site in by_site])
    sent_before = set(
        VisitReminder.objects.filter(visit__in=[v for v, _s in candidates]).values_list(
            "visit_id", "stage", "recipient_id"
        )
    )
    recorded = 0
    for site, rows in by_site.items():
        for user in staff.get(site.pk, []):
            new = [(v, s) for v, s in rows if (v.pk, s, user.pk) not in sent_before]
            if not new:
                continue
            subject, body = _digest(site, new, today)
            try:
                with transaction.atomic():
                    notification, created = notification_queue(
                        kind="visit_reminder",
                        dedupe_key=f"visit-digest:{site.code}:{user.pk}:{today.isoformat()}",
                        subject=subject,
                        body=body,
                        recipient=user,
                        site_code=site.code,
                    )
                    if not created:
                        continue  # today's digest already went to this person; new ones go tomorrow
                    VisitReminder.objects.bulk_create(
                        [VisitReminder(visit=v, stage=s, recipient=user, notification=notification) for v, s in new]
                    )
                    recorded += len(new)
            except IntegrityError:
                continue  # another sweep recorded the same reminders at the same moment
    return recorded
