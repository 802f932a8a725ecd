"""Reads about patients that other domains rely on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from sites.models import visible_site_ids

from .grading import grade_disagreement
from .models import Consent, EligibilityAssessment, Patient, ReconsentTask


def patient_randomisation_blockers(patient: Patient) -> list[str]:
    """Why ``patient`` cannot be randomised now; an empty list means it can.

    Randomisation (issue 4) refuses with these reasons and allocates nothing.
    """
    reasons: list[str] = []
    if not patient.site.can_recruit():
        reasons.append(f"Site {patient.site.code} is not active.")
    if patient.status == Patient.Status.INELIGIBLE:
        reasons.append("The patient is not eligible.")
    elif patient.status == Patient.Status.CONSENTED:
        reasons.append("Eligibility has not been confirmed by the PI or a delegate.")
    elif patient.status != Patient.Status.ELIGIBLE:
        reasons.append(f"A patient who is {patient.get_status_display().lower()} cannot be randomised.")
    if not patient.consents.exists():
        reasons.append("No consent is recorded.")
    labels = {"primary_site": "primary site", "who_grade": "WHO grade", "resection_margin": "resection margin"}
    missing = [labels[k] for k, v in patient.stratification_factors().items() if not v]
    if missing:
        reasons.append("Stratification factor(s) not recorded: " + ", ".join(missing) + ".")
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    if assessment is not None:
        # Protocol, Eligibility: a locally reported grade that disagrees with the grade derived from
        # Ki-67 and mitoses blocks randomisation until resolved.
        disagreement = grade_disagreement(assessment.who_grade, assessment.ki67_percent, assessment.mitoses_per_2mm2)
        if disagreement:
            reasons.append(
                f"WHO grade not resolved: {disagreement} Resolve it with the pathologist, correct the "
                "eligibility answers with the reason, and have eligibility confirmed again."
            )
    return reasons


DEFAULT_RANDOMISATION_TIMING = {
    "WARN_FROM_DAYS": 56,  # protocol: warn from week 8 after liver resection
    "DEVIATION_AFTER_DAYS": 70,  # cycle 1 window (8 ± 2 weeks) closes at 10 weeks: a protocol deviation after
}


@dataclass(frozen=True)
class RandomisationTiming:
    days: int
    warn: bool
    deviation: bool
    message: str


def randomisation_timing(patient: Patient, day: dt.date | None = None) -> RandomisationTiming:
    """How late randomising on ``day`` would be after the liver resection (protocol, Eligibility).

    The limits are the setting ``RANDOMISATION_TIMING`` (configurable, defaults above).
    """
    limits = {**DEFAULT_RANDOMISATION_TIMING, **getattr(settings, "RANDOMISATION_TIMING", {})}
    day = day or timezone.localdate()
    days = (day - patient.liver_resection_date).days
    weeks = f"{days // 7} weeks {days % 7} days"
    if days > limits["DEVIATION_AFTER_DAYS"]:
        return RandomisationTiming(
            days,
            True,
            True,
            f"{weeks} after the liver resection: later than {limits['DEVIATION_AFTER_DAYS'] // 7} weeks, when "
            "the cycle 1 window has closed. Randomising now is a protocol deviation: record its reason.",
        )
    if days >= limits["WARN_FROM_DAYS"]:
        closes = patient.liver_resection_date + dt.timedelta(days=limits["DEVIATION_AFTER_DAYS"])
        return RandomisationTiming(
            days,
            True,
            False,
            f"{weeks} after the liver resection: randomise by {closes:%d %b %Y}, when the cycle 1 window closes.",
        )
    return RandomisationTiming(days, False, False, "")


def patient_list(*, user, query: str = "", site_code: str = "", status: str = "") -> QuerySet[Patient]:
    """The patients a user may see, searched and filtered, with what the list shows annotated.

    A fixed number of queries whatever the number of patients (one for the page).
    """
    latest_consent = Consent.objects.filter(patient=OuterRef("pk")).order_by("-consented_at")
    patients = (
        Patient.objects.visible_to(user)
        .select_related("site")
        .annotate(
            # EXISTS, not a COUNT: an aggregate would group every visible patient before the page is cut.
            open_reconsent=Exists(ReconsentTask.objects.filter(patient=OuterRef("pk"), completed_at__isnull=True)),
            last_consent_version=Subquery(latest_consent.values("document__document_version")[:1]),
        )
        .order_by(*_list_order(user))
    )
    if query:
        query = query.strip().upper()
        patients = patients.filter(Q(trial_number__icontains=query) | Q(initials=query))
    if site_code:
        patients = patients.filter(site__code=site_code)
    if status:
        patients = patients.filter(status=status)
    return patients


def _list_order(user) -> tuple[str, ...]:
    """By site code, then registration order. For staff of a single site the code is the same on
    every row: registration order alone is the same order, and PostgreSQL reads from the index
    on (site, site_sequence) a page at a time instead of sorting the site's 5,000 patients."""
    ids = visible_site_ids(user)
    return ("site_sequence",) if ids is not None and len(ids) == 1 else ("site__code", "site_sequence")


def home_worklist(*, user, limit: int = 15) -> dict:
    """For the site staff's home page: patients needing an action first, then the most recent."""
    # Plain filtered queries, not the annotated list: the per-patient aggregates of patient_list()
    # would make PostgreSQL group every patient of the site before taking the first few.
    visible = Patient.objects.visible_to(user).select_related("site").order_by("site__code", "site_sequence")
    open_task = ReconsentTask.objects.filter(patient=OuterRef("pk"), completed_at__isnull=True)
    return {
        "awaiting_eligibility": visible.filter(status=Patient.Status.CONSENTED)[:limit],
        "reconsent_due": visible.filter(Exists(open_task))[:limit],
        "ready_to_randomise": visible.filter(status=Patient.Status.ELIGIBLE)[:limit],
        "recent": visible.order_by("-created_at", "-pk")[:limit],
    }
