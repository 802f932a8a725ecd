"""Reads about patients that other domains rely on."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from sites.models import visible_site_ids

from .models import Consent, Patient, ReconsentTask


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
    return reasons


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
