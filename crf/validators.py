"""Edit checks, one validator class per CRF, testable without HTTP or a saved form.

A **hard** finding blocks saving with a message at the field; a **soft** finding saves and raises a
query automatically. ``check`` receives the submitted values (the form's whole data, partial
allowed) and the context: the patient and the visit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from . import derivations


@dataclass
class CheckResult:
    hard: list[tuple[str, str]] = field(default_factory=list)
    soft: list[tuple[str, str]] = field(default_factory=list)


class CrfValidator:
    CHECKS = [
        "Hard: no date may be in the future (except the expected delivery date).",
    ]

    FUTURE_ALLOWED: tuple[str, ...] = ("expected_delivery",)

    def check(self, data: dict, *, patient, visit) -> CheckResult:
        result = CheckResult()
        for name, value in data.items():
            if isinstance(value, dt.datetime):
                value = value.date()
            if name in self.FUTURE_ALLOWED:
                continue
            if isinstance(value, dt.date) and value > timezone.localdate():
                result.hard.append((name, "This date is in the future."))
        self.rules(data, patient=patient, visit=visit, result=result)
        return result

    def rules(self, data: dict, *, patient, visit, result: CheckResult) -> None:
        """Form-specific checks; override."""


def _registration_is_the_source(day: dt.date) -> str:
    # One date, one source: the registration. The CRF shows it; a correction is made there, with a
    # reason, and re-anchors the visit schedule (patients.services.patient_registration_correct).
    return (
        f"The registration records {day:%d %b %Y}. If that is wrong, correct it on the patient's page "
        "(Correct registration data), with the reason; this form then shows the corrected date."
    )


class DemographicsValidator(CrfValidator):
    CHECKS = [
        "Soft: BMI outside 15–45 kg/m² raises a query on weight.",
    ]

    def rules(self, data, *, patient, visit, result):
        value = derivations.bmi(data.get("height_cm"), data.get("weight_kg"))
        if value is not None and not (15 <= value <= 45):
            result.soft.append(("weight_kg", f"BMI {value} is unusual: please check height and weight."))


class LiverResectionValidator(CrfValidator):
    CHECKS = [
        "Hard: resection date differs from the registration's, which is the source (correct it there, with a reason).",
        "Hard: complications recorded without a Clavien-Dindo grade, or a grade without complications.",
        "Soft: margin differs from the margin recorded at eligibility.",
    ]

    def rules(self, data, *, patient, visit, result):
        day = data.get("resection_date")
        if day and day != patient.liver_resection_date:
            result.hard.append(("resection_date", _registration_is_the_source(patient.liver_resection_date)))
        if data.get("complications") and not data.get("clavien_dindo"):
            result.hard.append(("clavien_dindo", "Grade the worst complication (Clavien-Dindo)."))
        if data.get("complications") is False and data.get("clavien_dindo"):
            result.hard.append(("clavien_dindo", "No complication was recorded: leave the grade empty."))
        if data.get("margin") and patient.resection_margin and data["margin"] != patient.resection_margin:
            result.soft.append(("margin", f"Eligibility recorded margin {patient.resection_margin}."))


FULL_DOSE, REDUCED_DOSE = Decimal(7400), Decimal(3700)


class LutatheraDosingValidator(CrfValidator):
    CHECKS = [
        "Hard: administered activity outside 7,400 MBq ± 10 % (full) or 3,700 MBq ± 10 % (reduced).",
        "Soft: dose date outside the visit window.",
        "Soft: last long-acting somatostatin analogue less than 28 days before the dose; short-acting less than 24 hours.",  # noqa: E501 - check text reads as one line
        "Soft: cycle 2 more than 16 weeks after cycle 1 (discontinuation).",
        "Hard: infusion stops before it starts; a delay without its reason.",
        "Soft: a dose-hold laboratory rule met at the visit's laboratory panel.",
    ]

    def rules(self, data, *, patient, visit, result):
        level, activity = data.get("dose_level"), data.get("administered_activity_mbq")
        if activity is not None and level in ("full", "reduced"):
            nominal = FULL_DOSE if level == "full" else REDUCED_DOSE
            low, high = nominal * Decimal("0.9"), nominal * Decimal("1.1")
            if not (low <= Decimal(activity) <= high):
                result.hard.append(
                    (
                        "administered_activity_mbq",
                        f"A {level} dose is {nominal:,.0f} MBq ± 10 % ({low:,.0f}–{high:,.0f} MBq).",
                    )
                )
        dose = data.get("dose_date")
        if dose:
            if visit is not None and not (visit.window_start <= dose <= visit.window_end):
                result.soft.append(
                    (
                        "dose_date",
                        f"Outside the visit window {visit.window_start:%d %b %Y}–{visit.window_end:%d %b %Y}.",
                    )
                )
            ssa = data.get("last_long_acting_ssa_date")
            if ssa and (dose - ssa).days < 28:
                result.soft.append(
                    ("last_long_acting_ssa_date", f"Only {(dose - ssa).days} days before the dose (at least 28).")
                )
            short = data.get("last_short_acting_ssa_at")
            if short and (dt.datetime.combine(dose, dt.time(0), tzinfo=short.tzinfo) - short) < dt.timedelta(hours=24):
                result.soft.append(("last_short_acting_ssa_at", "Less than 24 hours before the dose day."))
            if visit is not None and visit.code == "C2":
                first = _first_dose_date(patient)
                if first and (dose - first).days > 16 * 7:
                    result.soft.append(
                        (
                            "dose_date",
                            f"{(dose - first).days // 7} weeks after cycle 1: more than "
                            "16 weeks means Lutathera is discontinued (protocol).",
                        )
                    )
        start, stop = data.get("infusion_start"), data.get("infusion_stop")
        if start and stop and stop <= start:
            result.hard.append(("infusion_stop", "The infusion stops before it starts."))
        if data.get("delay_days") and not data.get("delay_reason"):
            result.hard.append(("delay_reason", "Give the reason for the delay."))
        if visit is not None:
            for flag in _dose_hold_flags(patient, visit):
                result.soft.append(("dose_level", f"Dose-hold rule met before dosing: {flag}."))


def _first_dose_date(patient):
    from .models import LutatheraDosing

    first = LutatheraDosing.objects.filter(patient=patient, visit__code="C1").first()
    return first.dose_date if first else None


def _dose_hold_flags(patient, visit) -> list[str]:
    from django.forms.models import model_to_dict

    from .models import Laboratory

    lab = Laboratory.objects.filter(visit=visit).first()
    return derivations.dose_hold_flags(model_to_dict(lab)) if lab else []


class LaboratoryValidator(CrfValidator):
    CHECKS = [
        "Soft: creatinine clearance without creatinine.",
        "Soft: dose-hold rules — platelets grade 2–4, anaemia or neutropenia grade 3–4, creatinine clearance < 40 mL/min, bilirubin > 3 × ULN, albumin < 30 g/L with INR > 1.5 (CTCAE v5 grades derived).",  # noqa: E501 - check text reads as one line
    ]

    def rules(self, data, *, patient, visit, result):
        crcl, creat = data.get("creatinine_clearance"), data.get("creatinine")
        if crcl is not None and creat is None:
            result.soft.append(("creatinine", "Creatinine clearance given without creatinine."))
        for flag in derivations.dose_hold_flags(data):
            result.soft.append(
                (
                    "platelets"
                    if "Platelets" in flag
                    else "creatinine_clearance"
                    if "Creatinine" in flag
                    else "bilirubin"
                    if "Bilirubin" in flag
                    else "albumin"
                    if "Albumin" in flag
                    else "anc"
                    if "Neutropenia" in flag
                    else "haemoglobin",
                    f"Dose-hold rule: {flag}.",
                )
            )


class FollowUpValidator(CrfValidator):
    CHECKS = [
        "Hard: imaging before the liver resection.",
        "Soft: recurrence reported (complete the recurrence form); visit date outside the window.",
    ]

    def rules(self, data, *, patient, visit, result):
        imaging = data.get("imaging_date")
        if imaging and imaging < patient.liver_resection_date:
            result.hard.append(("imaging_date", "Imaging before the liver resection cannot be follow-up."))
        if data.get("imaging_result") == "recurrence":
            result.soft.append(("imaging_result", "Recurrence reported: complete the recurrence form."))
        visit_date = data.get("visit_date")
        if visit_date and visit is not None and not (visit.window_start <= visit_date <= visit.window_end):
            result.soft.append(
                ("visit_date", f"Outside the visit window {visit.window_start:%d %b %Y}–{visit.window_end:%d %b %Y}.")
            )


class EndOfStudyValidator(CrfValidator):
    CHECKS = [
        "Hard: reason death without date, cause and relation; death details with another reason.",
        "Hard: date of death after the end of study or before the liver resection.",
    ]

    def rules(self, data, *, patient, visit, result):
        if data.get("reason") == "death":
            for name, label in (
                ("death_date", "date of death"),
                ("death_cause", "cause of death"),
                ("death_relation", "relation of the death"),
            ):
                if not data.get(name):
                    result.hard.append((name, f"Give the {label}."))
        elif any(data.get(n) for n in ("death_date", "death_cause", "death_relation")):
            result.hard.append(("reason", "Death details are given: the reason must be death."))
        death, end = data.get("death_date"), data.get("end_date")
        if death and end and death > end:
            result.hard.append(("death_date", "The date of death is after the end of study."))
        if death and death < patient.liver_resection_date:
            result.hard.append(("death_date", "The date of death is before the liver resection."))


class MedicalHistoryValidator(CrfValidator):
    CHECKS = [
        "Hard: diagnosis after the liver resection; 'other' syndrome not named, or named without 'other'.",
        "Soft: carcinoid heart disease without carcinoid syndrome.",
    ]

    def rules(self, data, *, patient, visit, result):
        diagnosis = data.get("diagnosis_date")
        if diagnosis and diagnosis > patient.liver_resection_date:
            result.hard.append(("diagnosis_date", "The diagnosis cannot be after the liver resection."))
        if data.get("functional_syndrome") == "other" and not data.get("functional_syndrome_other"):
            result.hard.append(("functional_syndrome_other", "Name the other functional syndrome."))
        if data.get("functional_syndrome") != "other" and data.get("functional_syndrome_other"):
            result.hard.append(
                ("functional_syndrome_other", "Only for an 'other' syndrome: choose Other or clear this.")
            )
        if data.get("carcinoid_heart_disease") and data.get("functional_syndrome") not in ("carcinoid", None, ""):
            result.soft.append(
                ("carcinoid_heart_disease", "Carcinoid heart disease without carcinoid syndrome: please confirm.")
            )


class HistopathologyValidator(CrfValidator):
    CHECKS = [
        "Hard: more nodes positive than examined; pN0 with positive nodes.",
        "Soft: primary resected after the liver with 'synchronous'.",
        "Hard: primary resection date differs from the registration's, which is the source (correct it there).",
        "Soft: primary site, Ki-67 or mitoses differ from the eligibility answers that set the stratum.",
        "Soft: WHO grade entered differs from the grade derived from Ki-67 and mitoses (G1 < 3 % and < 2; G2 3–20 % or 2–20; G3 above; the higher index sets the grade).",  # noqa: E501 - check text reads as one line
    ]

    def rules(self, data, *, patient, visit, result):
        from .scoring import grade_disagreement

        positive, examined = data.get("nodes_positive"), data.get("nodes_examined")
        if positive is not None and examined is not None and positive > examined:
            result.hard.append(("nodes_positive", "More nodes positive than examined."))
        if data.get("pn") == "N0" and positive:
            result.hard.append(("pn", "pN0 with positive nodes: check pN or the node count."))
        primary = data.get("primary_resection_date")
        if primary and primary > patient.liver_resection_date and data.get("timing") == "synchronous":
            result.soft.append(("timing", "Primary resected after the liver: is 'synchronous' right?"))
        if primary and patient.primary_resection_date and primary != patient.primary_resection_date:
            result.hard.append(("primary_resection_date", _registration_is_the_source(patient.primary_resection_date)))
        message = grade_disagreement(data.get("who_grade"), data.get("ki67_percent"), data.get("mitoses_per_2mm2"))
        if message:
            result.soft.append(("who_grade", message))
        _agrees_with_eligibility(data, patient, result)


# Histopathology fields recorded at eligibility too, where they set the stratum (protocol,
# Stratification: the factors come from source data): a CRF that differs raises a query.
ELIGIBILITY_PATHOLOGY = {"primary_site": "primary site", "ki67_percent": "Ki-67", "mitoses_per_2mm2": "mitoses"}


def _agrees_with_eligibility(data, patient, result) -> None:
    from patients.models import EligibilityAssessment

    assessment = EligibilityAssessment.objects.filter(patient=patient).first() if patient.pk else None
    if assessment is None:
        return
    for name, label in ELIGIBILITY_PATHOLOGY.items():
        value, recorded = data.get(name), getattr(assessment, name)
        if name == "primary_site" and value == "colorectum":
            value = "colon_rectum"  # the CRF and eligibility code lists spell this site differently
        if value not in (None, "") and recorded not in (None, "") and str(value) != str(recorded):
            if isinstance(recorded, Decimal) and Decimal(str(value)) == recorded:
                continue
            result.soft.append(
                (name, f"Eligibility recorded {label} {recorded}, which sets the stratum: check which is right.")
            )


class QualityOfLifeValidator(CrfValidator):
    CHECKS = [
        "Hard: a completion date with no item answered.",
        "Soft: fewer than 15 of 30 items answered.",
    ]

    def rules(self, data, *, patient, visit, result):
        answered = [n for n in range(1, 31) if data.get(f"q{n}") is not None]
        if data.get("completed_on") and not answered:
            result.hard.append(("completed_on", "No item answered: enter the responses or clear the date."))
        elif answered and len(answered) < 15:
            result.soft.append(
                ("completed_on", f"Only {len(answered)} of 30 items answered: please check the paper questionnaire.")
            )


class BiomarkerSampleValidator(CrfValidator):
    CHECKS = [
        "Hard: a sample without its tube id; shipped before collection; received before shipping; a NETest score without a blood sample.",  # noqa: E501 - check text reads as one line
        "Soft: more than 7 days in transit.",
    ]

    def rules(self, data, *, patient, visit, result):
        blood, urine = data.get("blood_collected_at"), data.get("urine_collected_at")
        if blood and not data.get("blood_tube_id"):
            result.hard.append(("blood_tube_id", "Give the tube id of the blood sample."))
        if urine and not data.get("urine_tube_id"):
            result.hard.append(("urine_tube_id", "Give the tube id of the urine sample."))
        shipped, received = data.get("shipped_on"), data.get("received_on")
        collected = [c.date() for c in (blood, urine) if c]
        if shipped and collected and shipped < min(collected):
            result.hard.append(("shipped_on", "Shipped before the sample was collected."))
        if received and shipped and received < shipped:
            result.hard.append(("received_on", "Received before it was shipped."))
        if data.get("netest_score") is not None and not blood:
            result.hard.append(("netest_score", "A NETest score needs a blood sample."))
        if shipped and received and (received - shipped).days > 7:
            result.soft.append(("received_on", f"{(received - shipped).days} days in transit: sample stability?"))


class ImagingValidator(CrfValidator):
    CHECKS = [
        "Hard: imaging before the liver resection; new lesions with 'no evidence of disease'.",
        "Soft: recurrence reported (complete the recurrence form).",
    ]

    def rules(self, data, *, patient, visit, result):
        day = data.get("imaging_date")
        if day and day < patient.liver_resection_date:
            result.hard.append(("imaging_date", "Imaging before the liver resection cannot be follow-up."))
        if data.get("result") == "recurrence":
            result.soft.append(("result", "Recurrence reported: complete the recurrence form."))
        if data.get("result") == "ned" and data.get("new_lesions"):
            result.hard.append(("new_lesions", "No evidence of disease with new lesions: check the result."))


class RecurrenceValidator(CrfValidator):
    CHECKS = [
        "Hard: recurrence before the liver resection; biomarker rise alone; next treatment start without the treatment; no site ticked.",  # noqa: E501 - check text reads as one line
        "Soft: next treatment started before the recurrence.",
    ]

    def rules(self, data, *, patient, visit, result):
        day = data.get("recurrence_date")
        if day and day < patient.liver_resection_date:
            result.hard.append(("recurrence_date", "The recurrence date cannot be before the liver resection."))
        if data.get("confirmation") == "biomarker":
            result.hard.append(
                ("confirmation", "A biomarker rise alone is not a recurrence: the event needs imaging or biopsy.")
            )
        start = data.get("next_treatment_start")
        if start and day and start < day:
            result.soft.append(("next_treatment_start", "Next treatment started before the recurrence date."))
        if start and not data.get("next_treatment"):
            result.hard.append(("next_treatment", "Name the treatment that started."))
        sites = [data.get(n) for n in ("site_liver", "site_nodes", "site_peritoneum", "site_bone", "site_lung")]
        if day and sites and all(s is False for s in sites) and not data.get("site_other"):
            result.hard.append(("site_other", "No site recorded: tick at least one site of recurrence."))


class ConcomitantMedicationValidator(CrfValidator):
    CHECKS = [
        "Hard: stop before start; an ongoing medication with a stop date; neither stop date nor ongoing.",
        "Soft: a somatostatin analogue (check timing against Lutathera).",
    ]

    def rules(self, data, *, patient, visit, result):
        start, stop = data.get("start_date"), data.get("stop_date")
        if start and stop and stop < start:
            result.hard.append(("stop_date", "The stop date is before the start."))
        if data.get("ongoing") and stop:
            result.hard.append(("stop_date", "An ongoing medication has no stop date."))
        if data.get("ongoing") is False and not stop:
            result.hard.append(("stop_date", "Give the stop date, or mark the medication ongoing."))
        drug = (data.get("drug") or "").lower()
        if any(name in drug for name in ("octreotide", "lanreotide", "pasireotide")):
            result.soft.append(("drug", "Somatostatin analogue: check the timing against Lutathera dosing."))


class ProtocolDeviationValidator(CrfValidator):
    CHECKS = [
        "Hard: a possible serious breach without the corrective action.",
    ]

    def rules(self, data, *, patient, visit, result):
        if data.get("serious_breach") and not data.get("corrective_action"):
            result.hard.append(("corrective_action", "A possible serious breach needs the action taken."))


class PregnancyValidator(CrfValidator):
    CHECKS = [
        "Hard: subject does not match the patient's sex; an outcome without its date; outcome before the LMP.",
    ]

    def rules(self, data, *, patient, visit, result):
        if data.get("subject") == "patient" and patient.sex == "M":
            result.hard.append(("subject", "The patient is male: report the partner's pregnancy."))
        if data.get("subject") == "partner" and patient.sex == "F":
            result.hard.append(("subject", "The patient is female: report her own pregnancy."))
        outcome, outcome_date = data.get("outcome"), data.get("outcome_date")
        if outcome and outcome != "ongoing" and not outcome_date:
            result.hard.append(("outcome_date", "Give the date of the outcome."))
        lmp = data.get("last_menstrual_period")
        if lmp and outcome_date and outcome_date < lmp:
            result.hard.append(("outcome_date", "The outcome is before the last menstrual period."))
