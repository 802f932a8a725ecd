"""Safety reads: SAE clocks for the dashboard and the AE/SAE line listing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from . import clocks
from .models import AdverseEvent, ReferenceSafetyInformation, SaeReport
from .services import pi_signed


def sae_clocks(report: SaeReport, now=None) -> list[dict]:
    """Each deadline of the report with its state: met, open (time left) or overdue."""
    now = now or timezone.now()
    rows = [
        (
            "Initial report to the sponsor" if report.number == 0 else f"Follow-up {report.number} to the sponsor",
            report.due_at,
            report.submitted_at,
        )
    ]
    if report.susar:
        reported = report.reported_regulator_on and report.reported_ethics_on
        rows.append(("SUSAR to regulator and ethics committee", report.susar_due_at, reported))
        if report.susar_followup_due_at:
            rows.append(("SUSAR follow-up report", report.susar_followup_due_at, report.followup_reported_on))
        if report.susar_upgrade_due_at:
            rows.append(
                ("Upgraded (fatal/life-threatening) SUSAR", report.susar_upgrade_due_at, report.upgrade_reported_on)
            )
    result = []
    for label, due, met in rows:
        state = "met" if met else ("overdue" if due and due < now else "open")
        result.append(
            {
                "label": label,
                "due": due,
                "met": met,
                "state": state,
                "left": "" if met else clocks.describe_left(clocks.time_left(due, now)),
            }
        )
    return result


def assessment_rows(report: SaeReport) -> list[dict]:
    """The three opinions side by side: the site reporter's (on the AE), the PI's and the sponsor's."""
    ae = report.adverse_event
    return [
        {
            "field": "pi_causality_lutathera",
            "label": "Causality: Lutathera",
            "site": ae.get_causality_lutathera_display(),
            "pi": report.get_pi_causality_lutathera_display(),
            "sponsor": report.get_sponsor_causality_display(),
        },
        {
            "field": "pi_causality_amino_acids",
            "label": "Causality: amino acids",
            "site": ae.get_causality_amino_acids_display(),
            "pi": report.get_pi_causality_amino_acids_display(),
            "sponsor": "",
        },
        {
            "field": "pi_causality_procedures",
            "label": "Causality: trial procedures",
            "site": ae.get_causality_procedures_display(),
            "pi": report.get_pi_causality_procedures_display(),
            "sponsor": "",
        },
        {
            "field": "pi_expectedness",
            "label": "Expectedness",
            "site": "",
            "pi": report.get_pi_expectedness_display(),
            "sponsor": report.get_sponsor_expectedness_display(),
        },
    ]


def casebook_parts(patient):
    """The patient's AEs and SAE reports, as the casebook sign-off covers them."""
    for ae in AdverseEvent.objects.filter(patient=patient).order_by("pk"):
        yield "adverse_event", ae
    for report in SaeReport.objects.filter(adverse_event__patient=patient).order_by("pk"):
        yield "sae_report", report


def coding_worklist(*, user, coded: bool = False) -> QuerySet[AdverseEvent]:
    """The medical coder's worklist: AEs of the user's sites still to be coded (free text, or a
    term changed since coding), oldest first; with ``coded`` the ones already coded, newest first."""
    events = AdverseEvent.objects.visible_to(user).filter(retired_at__isnull=True)
    events = events.select_related("patient__site", "coded_by")
    if coded:
        return events.filter(needs_coding=False).exclude(meddra_llt_code="").order_by("-coded_at")
    return events.filter(needs_coding=True).order_by("onset_date", "pk")


def sae_list(*, user) -> QuerySet[SaeReport]:
    return SaeReport.objects.visible_to(user).select_related("adverse_event__patient__site", "reviewed_by")


def overdue_saes(*, user, now=None) -> list[SaeReport]:
    """Reports with a deadline passed and not met (the same rule as sae_clocks, in SQL)."""
    return list(overdue_sae_reports(user=user, now=now).order_by("due_at")[:50])


def overdue_sae_reports(*, user, now=None) -> QuerySet[SaeReport]:
    """Every report with a deadline passed and not met, as a queryset (counted and paged by the
    trial manager's work list)."""
    now = now or timezone.now()
    susar_unreported = Q(reported_regulator_on__isnull=True) | Q(reported_ethics_on__isnull=True)
    overdue = (
        Q(due_at__lt=now, submitted_at__isnull=True)
        | (Q(susar=True, susar_due_at__lt=now) & susar_unreported)
        | Q(susar=True, susar_followup_due_at__lt=now, followup_reported_on__isnull=True)
        | Q(susar=True, susar_upgrade_due_at__lt=now, upgrade_reported_on__isnull=True)
    )
    return sae_list(user=user).filter(retired_at__isnull=True).filter(overdue)


def ae_listing(*, user, site: str = "", arm: str = "", grade: str = "", causality: str = "") -> QuerySet[AdverseEvent]:
    rows = (
        AdverseEvent.objects.visible_to(user)
        .filter(retired_at__isnull=True)
        .select_related("patient__site", "patient__allocation")
        .order_by("patient__site__code", "patient__trial_number", "onset_date", "pk")
    )
    if site:
        rows = rows.filter(patient__site__code=site)
    if arm:
        rows = rows.filter(patient__allocation__arm=arm)
    if grade:
        rows = rows.filter(grade=grade)
    if causality:
        rows = rows.filter(causality_lutathera=causality)
    return rows


LISTING_COLUMNS = [
    ("site", "Site"),
    ("trial_number", "Patient"),
    ("arm", "Arm"),
    ("ae_id", "AE"),
    ("term", "Term"),
    ("grade", "Grade"),
    ("onset_date", "Onset"),
    ("stop_date", "Stop"),
    ("serious", "Serious"),
    ("criteria", "Seriousness criteria"),
    ("causality_lutathera", "Causality Lutathera"),
    ("causality_amino_acids", "Causality amino acids"),
    ("causality_procedures", "Causality procedures"),
    ("action_taken", "Action with Lutathera"),
    ("outcome", "Outcome"),
    ("dosing_cycle", "After cycle"),
]


def listing_rows(events) -> list[dict]:
    out = []
    for ae in events:
        allocation = getattr(ae.patient, "allocation", None)
        out.append(
            {
                "site": ae.patient.site.code,
                "trial_number": ae.patient.trial_number,
                "arm": allocation.arm if allocation else "",
                "ae_id": ae.pk,
                "term": ae.term,
                "grade": ae.grade,
                "onset_date": ae.onset_date.isoformat(),
                "stop_date": ae.stop_date.isoformat() if ae.stop_date else ("ongoing" if ae.ongoing else ""),
                "serious": "yes" if ae.serious else "no",
                "criteria": "; ".join(ae.criteria()),
                "causality_lutathera": ae.get_causality_lutathera_display(),
                "causality_amino_acids": ae.get_causality_amino_acids_display(),
                "causality_procedures": ae.get_causality_procedures_display(),
                "action_taken": ae.get_action_taken_display(),
                "outcome": ae.get_outcome_display(),
                "dosing_cycle": ae.dosing_cycle or "",
            }
        )
    return out


SAFETY_LISTING_COLUMNS = [
    ("case", "Case"),
    ("site", "Site"),
    ("country", "Country"),
    ("trial_number", "Patient"),
    ("arm", "Arm"),
    ("term", "Event term"),
    ("grade", "CTCAE grade"),
    ("onset_date", "Onset"),
    ("stop_date", "Stop"),
    ("criteria", "Seriousness criteria"),
    ("outcome", "Outcome"),
    ("site_causality", "Causality (site reporter)"),
    ("pi_causality", "Causality (investigator)"),
    ("sponsor_causality", "Causality (sponsor)"),
    ("expectedness", "Expectedness (sponsor)"),
    ("rsi_version", "RSI version"),
    ("susar", "SUSAR"),
    ("day0", "Sponsor day 0"),
    ("susar_due", "SUSAR due"),
    ("reported_regulator_on", "Reported to regulator"),
    ("reported_ethics_on", "Reported to ethics"),
    ("versions", "Reports sent"),
]


def _sponsor_date(moment):
    return moment.astimezone(ZoneInfo(clocks.sponsor_timezone())).date() if moment else None


def safety_line_listing(*, start: dt.date, end: dt.date, susars_only: bool) -> list[dict]:
    """SAEs (or SUSARs only) of the period, one row per case, for the DSUR and the DMC.

    A case is in the period by the sponsor's day 0 (its sponsor calendar date); a case not yet sent
    counts by the site's awareness, so no SAE is left out of a listing because it is late. The RSI
    version is the one approved at the reaction's onset. Trial-wide: the caller checks the role.
    """
    reports = SaeReport.objects.filter(retired_at__isnull=True).select_related("rsi").order_by("number")
    events = (
        AdverseEvent.objects.filter(retired_at__isnull=True, sae_reports__isnull=False)
        .distinct()
        .select_related("patient__site", "patient__allocation")
        .prefetch_related(Prefetch("sae_reports", queryset=reports, to_attr="case_reports"))
        .order_by("patient__site__code", "patient__trial_number", "onset_date", "pk")
    )
    rsi_versions = list(ReferenceSafetyInformation.objects.filter(retired_at__isnull=True))
    rows = []
    for ae in events:
        versions = ae.case_reports
        if not versions:
            continue
        initial = versions[0]
        sent = [r for r in versions if r.submitted_at]
        reviewed = [r for r in versions if r.reviewed_at]
        susar_reports = [r for r in versions if r.susar]
        day0 = min((r.sponsor_aware_at or r.submitted_at for r in sent), default=None)
        counted = _sponsor_date(day0) or _sponsor_date(initial.aware_at)
        if not (start <= counted <= end):
            continue
        if susars_only and not susar_reports:
            continue
        latest_review = reviewed[-1] if reviewed else None
        assessed = [r for r in versions if r.pi_causality_lutathera]
        rsi = next((r.rsi for r in reversed(versions) if r.rsi_id), None) or _rsi_on(rsi_versions, ae.onset_date)
        susar = susar_reports[0] if susar_reports else None
        allocation = getattr(ae.patient, "allocation", None)
        rows.append(
            {
                "case": f"{ae.patient.trial_number}-AE{ae.pk}",
                "site": ae.patient.site.code,
                "country": ae.patient.site.country,
                "trial_number": ae.patient.trial_number,
                "arm": allocation.arm if allocation else "",
                "term": ae.term,
                "grade": ae.grade,
                "onset_date": ae.onset_date.isoformat(),
                "stop_date": ae.stop_date.isoformat() if ae.stop_date else ("ongoing" if ae.ongoing else ""),
                "criteria": "; ".join(ae.criteria()),
                "outcome": ae.get_outcome_display(),
                "site_causality": ae.get_causality_lutathera_display(),
                "pi_causality": assessed[-1].get_pi_causality_lutathera_display() if assessed else "not yet assessed",
                "sponsor_causality": latest_review.get_sponsor_causality_display()
                if latest_review
                else "not yet reviewed",
                "expectedness": latest_review.get_sponsor_expectedness_display() if latest_review else "",
                "rsi_version": rsi.version if rsi else "none in force at onset",
                "susar": "yes" if susar else ("no" if latest_review else "not yet classified"),
                "day0": day0.isoformat(timespec="minutes") if day0 else "not yet sent",
                "susar_due": susar.susar_due_at.isoformat(timespec="minutes") if susar and susar.susar_due_at else "",
                "reported_regulator_on": susar.reported_regulator_on.isoformat()
                if susar and susar.reported_regulator_on
                else "",
                "reported_ethics_on": susar.reported_ethics_on.isoformat()
                if susar and susar.reported_ethics_on
                else "",
                "versions": len(sent),
            }
        )
    return rows


def _rsi_on(versions, day):
    in_force = [v for v in versions if v.effective_date <= day]
    return max(in_force, key=lambda v: v.effective_date) if in_force else None


def prelock_blockers() -> list[dict]:
    """The safety part of the pre-lock checklist (reports.locking): each check with its blockers."""
    unsigned = [
        str(r)
        for r in SaeReport.objects.filter(retired_at__isnull=True).select_related("adverse_event__patient")
        if not pi_signed(r)
    ]
    return [{"label": "Every SAE report signed by the investigator", "blockers": unsigned}]
