"""The protocol's eligibility criteria as rules over an assessment's answers and dates.

Date windows are computed from the dates, never taken from a tick; their lengths are settings with
the protocol's defaults. ``evaluate`` returns the unanswered and the failed criteria by name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .codelists import STRATUM_MARGINS, STRATUM_WHO_GRADES, PrimarySite, PrimarySiteGroup, ResectionMargin, WhoGrade
from .grading import age_range, describe_age_range, grade_disagreement, who_grade
from .models import EligibilityAssessment, Patient

# Questions not asked of male patients (protocol CRF 13: "the pregnancy questions are not asked of
# male patients"; exclusion "pregnancy or breastfeeding"). Contraception is asked of both sexes: men
# too use it, for 4 months after the last dose. The form leaves these out, the service refuses an
# answer to them, the evaluation does not need them and exports show "not applicable".
NOT_ASKED_OF_MALE_PATIENTS = ("pregnant_or_breastfeeding",)
NOT_APPLICABLE_MALE = "Not applicable (male patient: not asked)"


def not_asked(patient: Patient) -> tuple[str, ...]:
    """The eligibility questions not asked of ``patient``, by sex."""
    return NOT_ASKED_OF_MALE_PATIENTS if patient.sex == "M" else ()


def asked_only(answers: dict, patient: Patient) -> dict:
    """``answers`` without those to questions not asked of ``patient`` (for scripted entry)."""
    return {name: value for name, value in answers.items() if name not in not_asked(patient)}


DEFAULT_WINDOWS = {
    "MRI_MAX_DAYS_BEFORE_SURGERY": 42,  # MRI within 4–6 weeks before surgery: at most 6 weeks
    "PET_MAX_DAYS_BEFORE_SURGERY": 84,  # 68Ga-DOTATATE PET/CT within 12 weeks before surgery
    "MIN_DAYS_SINCE_SURGERY": 28,  # exclusion: < 4 weeks since surgery or any other treatment
    "MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY": 84,  # exclusion: liver-directed therapy within 12 weeks
    "MIN_AGE_YEARS": 18,
    "KI67_BELOW": 20,
}


# The answers as the form, the investigator's confirmation page and the PDF show them, in order.
ANSWER_SECTIONS = [
    (_("Assessment"), ["assessed_on"]),
    (
        _("Inclusion criteria"),
        [
            "consent_before_procedures",
            "eighteenth_birthday_confirmed",
            "ecog",
            "histology_confirmed",
            "primary_site",
            "ki67_percent",
            "mitoses_per_2mm2",
            "who_grade",
            "nec",
            "resection_margin",
            "liver_mets_histology_confirmed",
            "primary_resected",
        ],
    ),
    (_("Pre-operative imaging"), ["mri_date", "mri_no_extrahepatic", "pet_date", "pet_no_extrahepatic"]),
    (
        _("Exclusion criteria"),
        [
            "other_treatment_date",
            "unresectable_disease",
            "pregnant_or_breastfeeding",
            "unwilling_contraception",
            "prior_prrt",
            "liver_directed_therapy_date",
        ],
    ),
]


@dataclass(frozen=True)
class AnswerRow:
    section: str
    label: str
    answer: str
    evidence_date: dt.date | None
    evidence: str


def answer_rows(assessment: EligibilityAssessment, patient: Patient) -> list[AnswerRow]:
    """Every answer with the date of the evidence it rests on, for the investigator to confirm.

    The imaging findings rest on their scans' dates, the pathology answers on the resections, the
    consent answer on the consent; the other answers on the date of assessment.
    """
    consent = consent_day(patient)
    evidence = {
        "consent_before_procedures": (consent, "consent"),
        "eighteenth_birthday_confirmed": (consent, "consent"),
        "mri_no_extrahepatic": (assessment.mri_date, "MRI"),
        "pet_no_extrahepatic": (assessment.pet_date, "PET/CT"),
        "primary_site": (patient.primary_resection_date, "primary resection"),
        "ki67_percent": (patient.primary_resection_date, "primary resection"),
        "mitoses_per_2mm2": (patient.primary_resection_date, "primary resection"),
        "who_grade": (patient.primary_resection_date, "primary resection"),
        "histology_confirmed": (patient.primary_resection_date, "primary resection"),
        "primary_resected": (patient.primary_resection_date, "primary resection"),
        "resection_margin": (patient.liver_resection_date, "liver resection"),
        "liver_mets_histology_confirmed": (patient.liver_resection_date, "liver resection"),
    }
    rows = []
    for section, names in ANSWER_SECTIONS:
        for name in names:
            field = EligibilityAssessment._meta.get_field(name)
            value = getattr(assessment, name)
            if name in not_asked(patient):
                shown = NOT_APPLICABLE_MALE
            elif value is None and name in ("other_treatment_date", "liver_directed_therapy_date"):
                shown = "None"  # "(if any)": no date means no such treatment
            elif value is None or value == "":
                shown = "— not answered —"
            elif isinstance(value, bool):
                shown = "Yes" if value else "No"
            elif isinstance(value, dt.date):
                shown = f"{value:%d %b %Y}"
            elif field.choices:
                shown = str(getattr(assessment, f"get_{name}_display")())
            else:
                shown = f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)
            day, source = evidence.get(name, (assessment.assessed_on, "assessment"))
            if isinstance(value, dt.date) or name == "assessed_on":
                day, source = None, ""
            label = str(field.verbose_name)
            rows.append(AnswerRow(section, label[:1].upper() + label[1:], shown, day, source))
    return rows


def window(name: str) -> int:
    return getattr(settings, "ELIGIBILITY_WINDOWS", {}).get(name, DEFAULT_WINDOWS[name])


@dataclass(frozen=True)
class Finding:
    code: str
    text: str
    # A failure that time resolves (e.g. < 4 weeks since surgery): the first day it is met.
    resolves_on: dt.date | None = None


@dataclass
class Evaluation:
    missing: list[Finding]
    failed: list[Finding]
    # What the system derived from the answers, shown to the investigator before signing.
    derived: list[tuple[str, str]] = dataclass_field(default_factory=list)
    derived_grade: str | None = None
    grade_disagreement: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def eligible(self) -> bool:
        return self.complete and not self.failed

    @property
    def only_waiting(self) -> bool:
        """Every failed criterion is one that time resolves: not yet eligible, not "not eligible"."""
        return bool(self.failed) and all(f.resolves_on for f in self.failed)

    @property
    def met_on(self) -> dt.date | None:
        """When every time-resolving failure is met (the latest of their dates)."""
        return max(f.resolves_on for f in self.failed) if self.only_waiting else None


def consent_day(patient: Patient) -> dt.date | None:
    """The date of the patient's first consent, in the site's local time (inclusion 1 and 2)."""
    first = patient.consents.order_by("consented_at", "id").first() if patient.pk else None
    return timezone.localtime(first.consented_at).date() if first else None


def _weeks(days: int) -> str:
    return f"{days // 7} weeks {days % 7} days" if days >= 0 else f"{days} days"


def evaluate(assessment: EligibilityAssessment, patient: Patient) -> Evaluation:
    a, missing, failed, derived = assessment, [], [], []
    surgery = patient.liver_resection_date

    def need(value, code: str, text: str) -> bool:
        if value is None or value == "":
            missing.append(Finding(code, text))
            return False
        return True

    def fail(code: str, text: str, resolves_on: dt.date | None = None) -> None:
        failed.append(Finding(code, text, resolves_on))

    # Inclusion
    if need(a.consent_before_procedures, "consent", "Written consent before any study procedure") and not (
        a.consent_before_procedures
    ):
        fail("consent", "Inclusion 1: consent was not given before study procedures")
    _age(a, patient, need, fail, derived)
    if need(a.ecog, "ecog", "ECOG performance status") and a.ecog > 1:
        fail("ecog", f"Inclusion 3: ECOG performance status {a.ecog} (must be 0 or 1)")
    if need(a.histology_confirmed, "histology", "Histology of a well-differentiated GEP-NET") and not (
        a.histology_confirmed
    ):
        fail("histology", "Inclusion 4: well-differentiated GEP-NET not confirmed by histology")
    if need(a.primary_site, "primary_site", "Primary tumour site") and a.primary_site == PrimarySite.OTHER:
        fail("primary_site", "Inclusion 4: primary is not in the stomach, pancreas or gut")
    if need(a.ki67_percent, "ki67", "Ki-67 index") and a.ki67_percent >= Decimal(window("KI67_BELOW")):
        fail("ki67", f"Inclusion 4: Ki-67 {a.ki67_percent} % (must be below {window('KI67_BELOW')} %)")
    need(a.mitoses_per_2mm2, "mitoses", "Mitoses per 2 mm²")
    grade = who_grade(a.ki67_percent, a.mitoses_per_2mm2)
    disagreement = None
    if need(a.who_grade, "grade", "WHO grade (as reported)") and a.who_grade == WhoGrade.G3:
        fail("grade", "Exclusion: G3 neuroendocrine tumour")
    if grade == WhoGrade.G3 and a.who_grade != WhoGrade.G3:
        fail("grade_derived", "Exclusion: G3 neuroendocrine tumour by " + _indices(a))
    if a.ki67_percent is not None and a.mitoses_per_2mm2 is not None:
        derived.append(("WHO grade derived from " + _indices(a), grade))
        disagreement = grade_disagreement(a.who_grade, a.ki67_percent, a.mitoses_per_2mm2)
    if need(a.nec, "nec", "Neuroendocrine carcinoma") and a.nec:
        fail("nec", "Exclusion: neuroendocrine carcinoma (NEC)")
    if need(a.resection_margin, "margin", "Resection margin") and a.resection_margin == ResectionMargin.R2:
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
    derived.append((f"Time from liver resection ({surgery:%d %b %Y}) to assessment", _weeks(since_surgery)))
    if since_surgery < window("MIN_DAYS_SINCE_SURGERY"):
        met = surgery + dt.timedelta(days=window("MIN_DAYS_SINCE_SURGERY"))
        fail(
            "since_surgery",
            f"Exclusion: {since_surgery} days since liver resection (at least "
            f"{window('MIN_DAYS_SINCE_SURGERY')} needed): met from {met:%d %b %Y}",
            resolves_on=met,
        )
    if a.other_treatment_date is not None:
        days = (a.assessed_on - a.other_treatment_date).days
        if days < window("MIN_DAYS_SINCE_SURGERY"):
            met = a.other_treatment_date + dt.timedelta(days=window("MIN_DAYS_SINCE_SURGERY"))
            fail(
                "other_treatment",
                f"Exclusion: {days} days since other treatment (at least {window('MIN_DAYS_SINCE_SURGERY')} "
                f"needed): met from {met:%d %b %Y}",
                resolves_on=met,
            )
    for field, code, text in (
        ("unresectable_disease", "unresectable", "Exclusion: non-resectable liver metastases, primary or nodes"),
        ("pregnant_or_breastfeeding", "pregnancy", "Exclusion: pregnant or breastfeeding"),
        ("unwilling_contraception", "contraception", "Exclusion: unwilling to use contraception"),
        ("prior_prrt", "prior_prrt", "Exclusion: prior PRRT"),
    ):
        if field in not_asked(patient):
            continue
        value = getattr(a, field)
        if need(value, code, str(EligibilityAssessment._meta.get_field(field).verbose_name).capitalize()) and value:
            fail(code, text)
    if a.liver_directed_therapy_date is not None:
        days = (a.assessed_on - a.liver_directed_therapy_date).days
        if days < window("MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY"):
            met = a.liver_directed_therapy_date + dt.timedelta(days=window("MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY"))
            fail(
                "liver_directed",
                f"Exclusion: liver-directed therapy {days} days before the assessment "
                f"(at least {window('MIN_DAYS_SINCE_LIVER_DIRECTED_THERAPY')} days needed): met from {met:%d %b %Y}",
                resolves_on=met,
            )
    return Evaluation(
        missing=missing, failed=failed, derived=derived, derived_grade=grade, grade_disagreement=disagreement
    )


def _indices(a: EligibilityAssessment) -> str:
    parts = [f"Ki-67 {a.ki67_percent.normalize():f} %"] if a.ki67_percent is not None else []
    if a.mitoses_per_2mm2 is not None:
        parts.append(f"mitoses {a.mitoses_per_2mm2.normalize():f}/2 mm²")
    return " and ".join(parts)


def _age(a: EligibilityAssessment, patient: Patient, need, fail, derived: list) -> None:
    """Inclusion 2 from the year of birth alone (protocol, Eligibility: "Age").

    At the consent date D the patient is D.year − YOB − 1 or D.year − YOB. The lower bound ≥ 18
    passes; an upper bound under 18 fails; 17-or-18 passes only on the investigator's explicit
    answer that the 18th birthday was on or before D. An upper bound of 18 alone is never enough.
    """
    day = consent_day(patient)
    if not need(day, "consent_date", "Date of consent"):
        return
    minimum = window("MIN_AGE_YEARS")
    low, high = age_range(patient.year_of_birth, day)
    derived.append(("Age at consent (from the year of birth)", describe_age_range(patient.year_of_birth, day)))
    if low >= minimum:
        return
    if high < minimum:
        fail("age", f"Inclusion 2: {describe_age_range(patient.year_of_birth, day)}: under {minimum}")
        return
    if (
        need(
            a.eighteenth_birthday_confirmed,
            "age_confirmation",
            f"Investigator's answer: was the 18th birthday on or before consent? The patient was "
            f"{describe_age_range(patient.year_of_birth, day)}",
        )
        and not a.eighteenth_birthday_confirmed
    ):
        fail(
            "age",
            f"Inclusion 2: {describe_age_range(patient.year_of_birth, day)} and the 18th birthday was after "
            "the consent date: under 18",
        )


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
    """The patient's stratification factors from the confirmed source answers.

    The WHO grade is the one derived from Ki-67 and mitoses (protocol, Stratification), never the
    grade as reported: a disagreeing report blocks randomisation instead (patients.selectors).
    """
    grade = who_grade(assessment.ki67_percent, assessment.mitoses_per_2mm2)
    return {
        "primary_site_group": (
            PrimarySiteGroup.PANCREAS if assessment.primary_site == PrimarySite.PANCREAS else PrimarySiteGroup.OTHER
        ),
        "who_grade": grade if grade in STRATUM_WHO_GRADES else "",
        "resection_margin": assessment.resection_margin if assessment.resection_margin in STRATUM_MARGINS else "",
    }
