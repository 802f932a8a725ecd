"""SAE escalations: a deadline near (SAE_ESCALATE_HOURS before, default 4) or passed e-mails the
site's PI and staff and the trial managers, once per stage and recipient (recorded first)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.notifications import notification_queue
from core.roles import TrialRole
from sites.models import Delegation

from . import clocks
from .models import SaeEscalation, SaeReport
from .services import pi_signed

STAGE = SaeEscalation.Stage


def escalate_hours() -> int:
    return getattr(settings, "SAE_ESCALATE_HOURS", 4)


def report_stages(
    report: SaeReport, *, signed: bool, now: dt.datetime, near: dt.timedelta
) -> list[tuple[str, dt.datetime]]:
    """The escalation stages a report is in now, with the deadline concerned."""
    stages = []

    def check(due, done, near_stage, overdue_stage):
        if due is None or done:
            return
        if due < now:
            stages.append((overdue_stage, due))
        elif due - now <= near:
            stages.append((near_stage, due))

    check(report.due_at, report.submitted_at, STAGE.INITIAL_NEAR, STAGE.INITIAL_OVERDUE)
    # The PI's signed assessment is due with the initial report.
    check(report.due_at, signed, STAGE.SIGNATURE_NEAR, STAGE.SIGNATURE_OVERDUE)
    if report.susar:
        reported = report.reported_regulator_on and report.reported_ethics_on
        check(report.susar_due_at, reported, STAGE.SUSAR_NEAR, STAGE.SUSAR_OVERDUE)
        check(report.susar_followup_due_at, report.followup_reported_on, STAGE.FOLLOWUP_NEAR, STAGE.FOLLOWUP_OVERDUE)
        check(report.susar_upgrade_due_at, report.upgrade_reported_on, STAGE.UPGRADE_NEAR, STAGE.UPGRADE_OVERDUE)
    return stages


def _recipients(report: SaeReport) -> list[User]:
    site = report.patient.site
    people = [d.user for d in Delegation.objects.current().filter(site=site).select_related("user")]
    people += list(User.objects.filter(trial_role=TrialRole.TRIAL_MANAGER, is_active=True))
    unique = {}
    for person in people:
        unique.setdefault(person.pk, person)
    return list(unique.values())


def sae_escalations_sweep(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    near = dt.timedelta(hours=escalate_hours())
    horizon = now + near
    reports = (
        SaeReport.objects.filter(retired_at__isnull=True)
        .filter(
            Q(due_at__lte=horizon)
            | Q(susar_due_at__lte=horizon)
            | Q(susar_followup_due_at__lte=horizon)
            | Q(susar_upgrade_due_at__lte=horizon)
        )
        .select_related("adverse_event__patient__site")
    )
    recorded = 0
    for report in reports:
        stages = report_stages(report, signed=pi_signed(report), now=now, near=near)
        if not stages:
            continue
        recipients = _recipients(report)
        done = set(SaeEscalation.objects.filter(report=report).values_list("stage", "recipient_id"))
        trial_number = report.patient.trial_number
        url = settings.EDC_BASE_URL + reverse("safety:sae_detail", args=[report.pk])
        for stage, due in stages:
            label = STAGE(stage).label
            for user in recipients:
                if (stage, user.pk) in done:
                    continue
                try:
                    with transaction.atomic():
                        notification, created = notification_queue(
                            kind="sae_escalation",
                            dedupe_key=f"sae:{report.pk}:{stage}:{user.pk}",
                            subject=f"NELMAS SAE {trial_number}: {label}",
                            body=(
                                f"SAE report {report} of {trial_number} (site {report.patient.site.code}): {label}.\n"
                                f"Deadline {due:%d %b %Y %H:%M} UTC — {clocks.describe_left(due - now)}.\n{url}\n"
                            ),
                            recipient=user,
                            site_code=report.patient.site.code,
                        )
                        if created:
                            SaeEscalation.objects.create(
                                report=report, stage=stage, recipient=user, notification=notification
                            )
                            recorded += 1
                except IntegrityError:
                    continue
    return recorded
