"""The laboratory CRF's reads across forms: the baseline panel, the weight and the site's normal
ranges a panel is derived with, and the dose-hold rules evaluated before an arm B dose.

Kept apart from crf.derivations (pure functions of values) because these read the database.
"""

from __future__ import annotations

import datetime as dt

from crf.models.reference_ranges import limits_in_force

from . import derivations, scoring
from .models import Demographics, Laboratory, LutatheraDosing, QualityOfLife

# Visits whose laboratory panel can be the baseline, per arm: the last value before cycle 1 for arm
# B (the randomisation/baseline panel or the cycle 1 pre-dose bloods), the baseline visit for arm A
# (protocol CRF 9).
BASELINE_VISITS = {"A": ("RAND",), "B": ("RAND", "C1")}
# Pre-dose bloods: the panel of a dosing visit (arm B only).
PREDOSE_VISITS = ("C1", "C2")


def patient_arm(patient) -> str | None:
    allocation = getattr(patient, "allocation", None)
    return allocation.arm if allocation is not None else None


def _arm(patient) -> str:
    arm = patient_arm(patient)
    if arm:
        return arm
    # Test and demo patients scheduled without an allocation: the visits tell the arm.
    return "B" if patient.visits.filter(code="C1").exists() else "A"


def panel_of(lab) -> dict:
    """A saved panel (a Laboratory or one of its history rows) in SI with its derived fields."""
    panel = {f.name: getattr(lab, f.name) for f in Laboratory._meta.concrete_fields if hasattr(lab, f.name)}
    for analyte in derivations.CONVERTIBLE:
        panel[analyte] = getattr(lab, f"{analyte}_si")
    return panel


def baseline_panel(patient, *, exclude_visit_code: str | None = None) -> dict | None:
    """The baseline panel in SI, analyte by analyte the last value before cycle 1 (arm B) or of the
    baseline visit (arm A), each with the limits of the panel it came from. None when the panel at
    ``exclude_visit_code`` is itself a baseline panel, or no baseline exists."""
    arm = _arm(patient)
    visits = BASELINE_VISITS.get(arm, ("RAND",))
    if exclude_visit_code in visits:
        return None
    labs = Laboratory.objects.filter(patient=patient, visit__code__in=visits).select_related("visit")
    first_dose = (
        LutatheraDosing.objects.filter(patient=patient, visit__code="C1", dose_date__isnull=False)
        .values_list("dose_date", flat=True)
        .first()
    )
    rows = sorted(
        (lab for lab in labs if lab.sample_date and (first_dose is None or lab.sample_date <= first_dose)),
        key=lambda lab: lab.sample_date,
    )
    if not rows:
        return None
    baseline: dict = {}
    for lab in rows:  # later panels overwrite earlier ones, analyte by analyte
        panel = panel_of(lab)
        for analyte in (*derivations.CONVERTIBLE, "wbc", "anc", "lymphocytes", "platelets", "alt", "ast", "alp", "inr"):
            if panel.get(analyte) is not None:
                baseline[analyte] = panel[analyte]
                for limit in (f"{analyte}_uln", f"{analyte}_lln"):
                    if limit in panel:
                        baseline[limit] = panel[limit]
                if analyte == "creatinine":
                    baseline["creatinine_clearance"] = panel.get("creatinine_clearance")
    return baseline


def nearest_weight(patient, day: dt.date | None):
    """The weight recorded nearest in time to ``day`` (the demographics form is where weight is
    recorded; its visit date, or the visit's target date, dates it)."""
    rows = [
        (form.visit.done_on or form.visit.target_date, form.weight_kg)
        for form in Demographics.objects.filter(patient=patient, weight_kg__isnull=False).select_related("visit")
    ]
    if not rows:
        return None
    day = day or dt.date.today()
    return min(rows, key=lambda row: abs((row[0] - day).days))[1]


def laboratory_context(data: dict, *, patient, visit) -> derivations.LabContext:
    day = data.get("sample_date")
    return derivations.LabContext(
        year_of_birth=patient.year_of_birth,
        female=patient.sex == "F",
        weight_kg=nearest_weight(patient, day),
        site_limits=limits_in_force(site=patient.site, sex=patient.sex, day=day) if day else None,
        baseline=baseline_panel(patient, exclude_visit_code=visit.code if visit is not None else None),
    )


def laboratory_derive(data: dict, *, patient, visit) -> dict:
    """The derived fields of a laboratory form with ``data`` (its merged values) at ``visit``."""
    return derivations.laboratory_derived(data, laboratory_context(data, patient=patient, visit=visit))


def predose_hold_flags(panel: dict, *, patient, visit) -> list[tuple[str, str]]:
    """The dose-hold rules met by a panel, evaluated only for the pre-dose bloods of an arm B dose
    (protocol CRF 9: "before an arm B dose only"); [] for any other panel."""
    if visit is None or visit.code not in PREDOSE_VISITS or _arm(patient) != "B":
        return []
    return derivations.dose_hold_flags(panel, baseline_panel(patient, exclude_visit_code=visit.code))


def reduced_dose_before(patient, day: dt.date | None) -> LutatheraDosing | None:
    if day is None:
        return None
    return (
        LutatheraDosing.objects.filter(patient=patient, dose_level="reduced", dose_date__lt=day)
        .order_by("dose_date")
        .first()
    )


def form_derived_fields(model, merged: dict, *, patient, visit) -> dict:
    """The DERIVED_FIELDS of a CRF (and limits filled from the site laboratory) computed from the
    form's merged entries: what the save service stores and the form shows while it is typed."""
    if model is Laboratory:
        return laboratory_derive(merged, patient=patient, visit=visit)
    if model is Demographics:
        return {"bmi": derivations.bmi(merged.get("height_cm"), merged.get("weight_kg"))}
    if model is QualityOfLife:
        return scoring.quality_of_life_derived({n: merged.get(f"q{n}") for n in scoring.QLQ_ITEMS})
    return {}


def grade_text(grade) -> str:
    return "—" if grade is None else f"G{grade}"
