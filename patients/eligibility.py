"""The protocol's eligibility criteria as rules over an assessment's answers and dates.

Date windows are computed from the dates, never taken from a tick; their lengths are settings with
the protocol's defaults. ``evaluate`` returns the unanswered and the failed criteria by name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from .models import EligibilityAssessment, Patient

DEFAULT_WINDOWS = {
    "MRI_MAX_DAYS_BEFORE_SURGERY": 42,  # MRI within 4–6 weeks before surgery: at most 6 weeks
    "PET_MAX_DAYS_BEFORE_SURGERY": 84,  # 68Ga-DOTATATE PET/CT within 12 weeks before surgery
    "MIN_DAYS_SINCE_SURGERY": 28,  # exclusion: < 4 weeks since surgery or any other treatment
    "MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY": 84,  # exclusion: liver-directed therapy within 12 weeks
    "MIN_AGE_YEARS": 18,
    "KI67_BELOW": 20,
}


def window(name: str) -> int:
    return getattr(settings, "ELIGIBILITY_WINDOWS", {}).get(name, DEFAULT_WINDOWS[name])


@dataclass(frozen=True)
class Finding:
    code: str
    text: str


@dataclass
class Evaluation:
    missing: list[Finding]
    failed: list[Finding]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def eligible(self) -> bool:
        return self.complete and not self.failed


def evaluate(assessment: EligibilityAssessment, patient: Patient) -> Evaluation:
    a, missing, failed = assessment, [], []
    surgery = patient.liver_resection_date

    def need(value, code: str, text: str) -> bool:
        if value is None or value == "":
            missing.append(Finding(code, text))
            return False
        return True

    def fail(code: str, text: str) -> None:
        failed.append(Finding(code, text))

    # Inclusion
    if need(a.consent_before_procedures, "consent", "Written consent before any study procedure") and not (
        a.consent_before_procedures
    ):
        fail("consent", "Inclusion 1: consent was not given before study procedures")
    age = a.assessed_on.year - patient.year_of_birth
    if age < window("MIN_AGE_YEARS"):
        fail("age", f"Inclusion 2: age {age} from year of birth {patient.year_of_birth} is under 18")
    if need(a.ecog, "ecog", "ECOG performance status") and a.ecog > 1:
        fail("ecog", f"Inclusion 3: ECOG performance status {a.ecog} (must be 0 or 1)")
    if need(a.histology_confirmed, "histology", "Histology of a well-differentiated GEP-NET") and not (
        a.histology_confirmed
    ):
        fail("histology", "Inclusion 4: well-differentiated GEP-NET not confirmed by histology")
    if need(a.primary_site, "primary_site", "Primary tumour site") and a.primary_site == "other":
        fail("primary_site", "Inclusion 4: primary is not in the stomach, pancreas or gut")
    if need(a.ki67_percent, "ki67", "Ki-67 index") and a.ki67_percent >= Decimal(window("KI67_BELOW")):
        fail("ki67", f"Inclusion 4: Ki-67 {a.ki67_percent} % (must be below {window('KI67_BELOW')} %)")
    if need(a.who_grade, "grade", "WHO grade") and a.who_grade == "G3":
        fail("grade", "Exclusion: G3 neuroendocrine tumour")
    if need(a.nec, "nec", "Neuroendocrine carcinoma") and a.nec:
        fail("nec", "Exclusion: neuroendocrine carcinoma (NEC)")
    if need(a.resection_margin, "margin", "Resection margin") and a.resection_margin == "R2":
        fail("margin", "Inclusion 5 / exclusion: R2 (debulking) resection")
    if need(a.liver_mets_histology_confirmed, "liver_histology", "Histology of the liver metastases") and not (
        a.liver_mets_histology_confirmed
    ):
        fail("liver_histology", "Inclusion 5: liver metastases not confirmed by histology")
    if need(a.primary_resected, "primary_resected", "Primary resected") and not a.primary_resected:
        fail("primary_resected", "Inclusion 6: primary not resected before or with the liver metastases")
    if patient.primary_resection_date > surgery:
        fail("primary_resected", "Inclusion 6: primary resected after the liver metastases")
    _imaging(
        a.mri_date,
        a.mri_no_extrahepatic,
        "mri",
        "MRI",
        window("MRI_MAX_DAYS_BEFORE_SURGERY"),
        surgery,
        need,
        fail,
        inclusion=7,
    )
    _imaging(
        a.pet_date,
        a.pet_no_extrahepatic,
        "pet",
        "68Ga-DOTATATE PET/CT",
        window("PET_MAX_DAYS_BEFORE_SURGERY"),
        surgery,
        need,
        fail,
        inclusion=8,
    )
    # Exclusion
    since_surgery = (a.assessed_on - surgery).days
    if since_surgery < window("MIN_DAYS_SINCE_SURGERY"):
        fail(
            "since_surgery",
            f"Exclusion: {since_surgery} days since liver resection (at least "
            f"{window('MIN_DAYS_SINCE_SURGERY')} needed)",
        )
    if a.other_treatment_date is not None:
        days = (a.assessed_on - a.other_treatment_date).days
        if days < window("MIN_DAYS_SINCE_SURGERY"):
            fail(
                "other_treatment",
                f"Exclusion: {days} days since other treatment (at least {window('MIN_DAYS_SINCE_SURGERY')} needed)",
            )
    for field, code, text in (
        ("unresectable_disease", "unresectable", "Exclusion: non-resectable liver metastases, primary or nodes"),
        ("pregnant_or_breastfeeding", "pregnancy", "Exclusion: pregnant or breastfeeding"),
        ("unwilling_contraception", "contraception", "Exclusion: unwilling to use contraception"),
        ("prior_prrt", "prior_prrt", "Exclusion: prior PRRT"),
    ):
        value = getattr(a, field)
        if need(value, code, str(EligibilityAssessment._meta.get_field(field).verbose_name).capitalize()) and value:
            fail(code, text)
    if a.liver_directed_therapy_date is not None:
        days = (a.assessed_on - a.liver_directed_therapy_date).days
        if days < window("MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY"):
            fail(
                "liver_directed",
                f"Exclusion: liver-directed therapy {days} days before the assessment "
                f"(at least {window('MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY')} days needed)",
            )
    return Evaluation(missing=missing, failed=failed)


def _imaging(
    day: dt.date | None,
    clear: bool | None,
    code: str,
    label: str,
    max_days: int,
    surgery: dt.date,
    need,
    fail,
    *,
    inclusion: int,
) -> None:
    if need(day, code, f"Date of {label}"):
        before = (surgery - day).days
        if before < 0:
            fail(code, f"Inclusion {inclusion}: {label} {-before} days after the liver resection")
        elif before > max_days:
            weeks = before / 7
            fail(
                code,
                f"Inclusion {inclusion}: {label} {weeks:.1f} weeks before the liver resection "
                f"(at most {max_days // 7} weeks)",
            )
    if need(clear, f"{code}_finding", f"{label} finding") and not clear:
        fail(f"{code}_finding", f"Inclusion {inclusion}: {label} showed extrahepatic disease")


def stratification_levels(assessment: EligibilityAssessment) -> dict[str, str]:
    """The patient's stratification factors from the confirmed source answers."""
    return {
        "primary_site_group": "pancreas" if assessment.primary_site == "pancreas" else "other",
        "who_grade": assessment.who_grade if assessment.who_grade in ("G1", "G2") else "",
        "resection_margin": assessment.resection_margin if assessment.resection_margin in ("R0", "R1") else "",
    }
