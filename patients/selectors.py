"""Reads about patients that other domains rely on."""

from __future__ import annotations

from .models import Patient


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
    labels = {"primary_site": "primary site", "who_grade": "WHO grade", "resection_margin": "resection margin"}
    missing = [labels[k] for k, v in patient.stratification_factors().items() if not v]
    if missing:
        reasons.append("Stratification factor(s) not recorded: " + ", ".join(missing) + ".")
    return reasons
