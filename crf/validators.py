"""Edit checks, one validator class per CRF, testable without HTTP or a saved form.

A **hard** finding blocks saving with a message at the field; a **soft** finding saves and raises a
query automatically. ``check`` receives the submitted values (the form's whole data, partial
allowed) and the context: the patient and the visit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from core.validators import is_in_future
from patients.models import EligibilityAssessment

from . import ctcae, derivations, labs
from .models import Laboratory, LutatheraDosing
from .schedule import add_months
from .scoring import grade_disagreement
from .selectors import first_recurrences


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
            if isinstance(value, dt.date) and is_in_future(value, timezone_name=patient.site.timezone):
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
# Calibrated − residual should equal the administered activity; more than this fraction apart asks
# the site to check the three figures (assay and decay-correction differences stay within it).
ACTIVITY_BALANCE_TOLERANCE = Decimal("0.05")


def _setting(name: str, default):
    return getattr(settings, name, default)


def _site_tz(patient):
    return ZoneInfo(patient.site.timezone)


def _randomised_at(patient):
    allocation = getattr(patient, "allocation", None)
    return allocation.randomised_at if allocation is not None else None


class LutatheraDosingValidator(CrfValidator):
    CHECKS = [
        "Hard: administered activity outside 7,400 MBq ± 10 % (full) or 3,700 MBq ± 10 % (reduced); an activity with 'not given'.",  # noqa: E501 - check text reads as one line
        "Hard: dose before randomisation; pre-dose bloods after the dose; discharge before the dose.",
        "Soft: dose date outside the visit window; pre-dose bloods more than PREDOSE_BLOODS_WINDOW_DAYS (14) days before the dose.",  # noqa: E501 - check text reads as one line
        "Soft: last long-acting somatostatin analogue less than 28 days before the dose; short-acting less than 24 hours before the infusion time.",  # noqa: E501 - check text reads as one line
        "Soft: amino-acid infusion starting less than 30 minutes before Lutathera, or not running about 4 hours (3.5–4.5 h).",  # noqa: E501 - check text reads as one line
        "Soft: calibrated − residual activity more than 5 % from the administered activity.",
        "Soft: cycle 2 more than 16 weeks after cycle 1 (discontinuation).",
        "Hard: infusion stops before it starts; a delay without its reason.",
        "Hard: a dose given while the cycle's pre-dose bloods meet a dose-hold rule, without the reason (arm B, Lutathera label).",  # noqa: E501 - check text reads as one line
        "Soft: a full dose after a dose hold at this cycle (the label re-administers at 3,700 MBq).",
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
        if level == "not_given":
            for name in ("administered_activity_mbq", "calibrated_activity_mbq", "residual_activity_mbq"):
                if data.get(name) is not None:
                    result.hard.append((name, "The dose was not given: leave the activity (MBq) empty."))
        self._activity_balance(data, result)
        dose = data.get("dose_date")
        tz = _site_tz(patient)
        start = data.get("infusion_start")
        infusion_at = dt.datetime.combine(dose, start or dt.time(0), tzinfo=tz) if dose else None
        if dose:
            self._timing(data, patient=patient, visit=visit, result=result, dose=dose, infusion_at=infusion_at)
        stop = data.get("infusion_stop")
        if start and stop and stop <= start:
            result.hard.append(("infusion_stop", "The infusion stops before it starts."))
        self._amino_acids(data, result)
        if data.get("delay_days") and not data.get("delay_reason"):
            result.hard.append(("delay_reason", "Give the reason for the delay."))
        if visit is not None:
            self._dose_hold(data, patient=patient, visit=visit, result=result)

    def _timing(self, data, *, patient, visit, result, dose, infusion_at):
        # The randomisation date is the randomisation visit's (the date it was done, else the date
        # the schedule is anchored on). On that day the allocation's time is compared with the
        # infusion time, when the allocation was stamped that day (not entered retrospectively).
        rand_visit = patient.visits.filter(code="RAND").values_list("done_on", "target_date").first()
        rand = (rand_visit[0] or rand_visit[1]) if rand_visit else None
        randomised = _randomised_at(patient)
        local = randomised.astimezone(infusion_at.tzinfo) if randomised is not None else None
        same_day_earlier = bool(
            local is not None
            and local.date() == dose == rand
            and data.get("infusion_start")
            and infusion_at < randomised
        )
        if (rand and dose < rand) or same_day_earlier:
            when = f"{local:%d %b %Y %H:%M}" if same_day_earlier else f"{rand:%d %b %Y}"
            result.hard.append(("dose_date", f"The dose is before randomisation ({when}): check the date."))
        if visit is not None and not (visit.window_start <= dose <= visit.window_end):
            result.soft.append(
                (
                    "dose_date",
                    f"Outside the visit window {visit.window_start:%d %b %Y}–{visit.window_end:%d %b %Y}.",
                )
            )
        bloods = data.get("predose_bloods_date")
        if bloods and bloods > dose:
            result.hard.append(("predose_bloods_date", "The pre-dose bloods are after the dose."))
        window = _setting("PREDOSE_BLOODS_WINDOW_DAYS", 14)
        if bloods and (dose - bloods).days > window:
            result.soft.append(
                (
                    "predose_bloods_date",
                    f"Pre-dose bloods {(dose - bloods).days} days before the dose (at most {window} days).",
                )
            )
        discharge = data.get("discharge_date")
        if discharge and discharge < dose:
            result.hard.append(("discharge_date", "The discharge is before the infusion."))
        ssa = data.get("last_long_acting_ssa_date")
        if ssa and (dose - ssa).days < 28:
            result.soft.append(
                ("last_long_acting_ssa_date", f"Only {(dose - ssa).days} days before the dose (at least 28).")
            )
        short = data.get("last_short_acting_ssa_at")
        # Against the infusion time in the site's timezone; with no infusion time yet, the start of the
        # dose day (the earliest the infusion can be, so the check errs towards asking).
        if short and (infusion_at - short) < dt.timedelta(hours=24):
            hours = (infusion_at - short).total_seconds() / 3600
            when = "the infusion" if data.get("infusion_start") else "the start of the dose day"
            result.soft.append(
                ("last_short_acting_ssa_at", f"Only {hours:.1f} hours before {when} (at least 24 hours).")
            )
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

    def _amino_acids(self, data, result):
        aa_start, aa_stop, start = data.get("amino_acid_start"), data.get("amino_acid_stop"), data.get("infusion_start")
        day = dt.date(2000, 1, 1)  # clock times of one day: only their differences matter
        if aa_start and start:
            lead = (dt.datetime.combine(day, start) - dt.datetime.combine(day, aa_start)).total_seconds() / 60
            if lead < 30:
                result.soft.append(
                    (
                        "amino_acid_start",
                        f"The amino acids start {lead:.0f} minutes before Lutathera (at least 30 minutes).",
                    )
                )
        if aa_start and aa_stop:
            if aa_stop <= aa_start:
                result.hard.append(("amino_acid_stop", "The amino-acid infusion stops before it starts."))
            else:
                hours = (dt.datetime.combine(day, aa_stop) - dt.datetime.combine(day, aa_start)).total_seconds() / 3600
                if not (3.5 <= hours <= 4.5):
                    result.soft.append(
                        ("amino_acid_stop", f"The amino-acid infusion ran {hours:.1f} hours (about 4 hours expected).")
                    )

    def _activity_balance(self, data, result):
        calibrated, residual = data.get("calibrated_activity_mbq"), data.get("residual_activity_mbq")
        administered = data.get("administered_activity_mbq")
        if calibrated is None or residual is None or not administered:
            return
        net = Decimal(calibrated) - Decimal(residual)
        if abs(net - Decimal(administered)) > ACTIVITY_BALANCE_TOLERANCE * Decimal(administered):
            result.soft.append(
                (
                    "administered_activity_mbq",
                    f"Calibrated − residual is {net:,.0f} MBq but {Decimal(administered):,.0f} MBq is recorded "
                    "as administered: please check the three activities.",
                )
            )

    def _dose_hold(self, data, *, patient, visit, result):
        lab = Laboratory.objects.filter(visit=visit).first()
        if lab is None:
            return
        flags = labs.predose_hold_flags(labs.panel_of(lab), patient=patient, visit=visit)
        given = data.get("dose_level") in ("full", "reduced")
        if flags and given and not data.get("dose_hold_reason"):
            summary = "; ".join(message for _f, message in flags)
            result.hard.append(
                (
                    "dose_hold_reason",
                    f"The pre-dose bloods meet a dose-hold rule ({summary}): hold the dose, or record why it is given.",
                )
            )
        for _field, message in flags:
            result.soft.append(("dose_level", f"Dose-hold rule met before dosing: {message}."))
        if not flags and data.get("dose_level") == "full":
            held = any(
                labs.predose_hold_flags(labs.panel_of(row), patient=patient, visit=visit)
                for row in lab.history.all()[1:]
            )
            if held:
                result.soft.append(
                    (
                        "dose_level",
                        "This cycle's bloods met a dose-hold rule before they resolved: the label re-administers "
                        "at the reduced 3,700 MBq.",
                    )
                )


def _first_dose_date(patient):
    first = LutatheraDosing.objects.filter(patient=patient, visit__code="C1").first()
    return first.dose_date if first else None


# Analytes whose grade 3–4 also holds the dose when possibly related ("any other CTCAE grade 3 or 4
# toxicity possibly related", SmPC 4.2): flagged for the investigator's assessment. Platelets,
# haemoglobin, neutrophils and bilirubin have their own rule above.
OTHER_TOXICITY_GRADES = (
    "wbc_grade",
    "lymphocytes_grade",
    "creatinine_grade",
    "alt_grade",
    "ast_grade",
    "alp_grade",
    "albumin_grade",
    "inr_grade",
)


def _n(value) -> str:
    """A number as text that reads the same before and after the database (3.5 and 3.50)."""
    return derivations._fmt(Decimal(value))


class LaboratoryValidator(CrfValidator):
    CHECKS = [
        "Hard: a value outside what a sample can show, in the unit entered (units: haemoglobin and albumin g/L or g/dL, creatinine and bilirubin µmol/L or mg/dL, converted to SI).",  # noqa: E501 - check text reads as one line
        "Hard: neutrophils or lymphocytes above the white cells (impossible).",
        "Soft: neutrophils + lymphocytes above the white cells.",
        "Soft: before an arm B dose only (cycle 1 and 2 pre-dose bloods): the label's dose-hold rules — thrombocytopenia grade 2–4, anaemia or neutropenia grade 3–4, creatinine clearance < 40 mL/min or ≥ 40 % below baseline, creatinine ≥ 40 % above baseline, bilirubin > 3 × ULN, albumin < 30 g/L with INR > 1.5; any other grade 3–4 toxicity for assessment; clearance not derivable for lack of weight.",  # noqa: E501 - check text reads as one line
        "Soft: after a reduced dose, a dose-hold rule met again: permanent discontinuation (label).",
    ]

    def rules(self, data, *, patient, visit, result):
        for analyte in derivations.CONVERTIBLE:
            value, code = data.get(analyte), data.get(f"{analyte}_unit")
            if value is None:
                continue
            try:
                unit = ctcae.unit_of(analyte, code)
            except KeyError:
                result.hard.append((f"{analyte}_unit", f"Unknown unit {code}."))
                continue
            if not (unit.low <= Decimal(value) <= unit.high):
                result.hard.append(
                    (
                        analyte,
                        f"{_n(value)} {unit.code} is not possible: between {unit.low} and {unit.high} {unit.code}.",
                    )
                )
        if result.hard:
            return
        wbc, anc, lymph = (data.get(n) for n in ("wbc", "anc", "lymphocytes"))
        if wbc is not None:
            if anc is not None and anc > wbc:
                result.hard.append(("anc", f"Neutrophils {_n(anc)} ×10⁹/L cannot exceed white cells {_n(wbc)} ×10⁹/L."))
            if lymph is not None and lymph > wbc:
                result.hard.append(
                    ("lymphocytes", f"Lymphocytes {_n(lymph)} ×10⁹/L cannot exceed white cells {_n(wbc)} ×10⁹/L.")
                )
            if anc is not None and lymph is not None and anc <= wbc and lymph <= wbc and anc + lymph > wbc:
                result.soft.append(
                    (
                        "wbc",
                        f"Neutrophils + lymphocytes ({_n(anc + lymph)} ×10⁹/L) exceed white cells ({_n(wbc)} ×10⁹/L): "
                        "please check.",
                    )
                )
        panel = derivations.si_panel(data) | labs.laboratory_derive(data, patient=patient, visit=visit)
        flags = labs.predose_hold_flags(panel, patient=patient, visit=visit)
        for field_name, message in flags:
            result.soft.append((field_name, f"Dose-hold rule: {message}."))
        if visit is not None and visit.code in labs.PREDOSE_VISITS and labs._arm(patient) == "B":
            for name in OTHER_TOXICITY_GRADES:
                grade = panel.get(name)
                if grade is not None and grade >= 3:
                    analyte = name.removesuffix("_grade")
                    result.soft.append(
                        (analyte, f"Grade {grade} before the dose: if possibly related, hold the dose (label).")
                    )
            if panel.get("creatinine") is not None and panel.get("creatinine_clearance") is None:
                result.soft.append(
                    ("creatinine", "Creatinine clearance cannot be derived: record the weight (demographics).")
                )
        reduced = labs.reduced_dose_before(patient, data.get("sample_date"))
        if reduced is not None and labs._arm(patient) == "B":
            code = visit.code if visit is not None else None
            again = derivations.dose_hold_flags(panel, labs.baseline_panel(patient, exclude_visit_code=code))
            if again:
                result.soft.append(
                    (
                        again[0][0],
                        f"Dose-limiting toxicity again after the reduced dose of {reduced.dose_date:%d %b %Y} "
                        "(" + "; ".join(m for _f, m in again) + "): Lutathera is discontinued permanently (label).",
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
        "Hard: recurrence-free with a recurrence recorded; 'completed 36 months' before 36 months after the liver resection (less the 4-week window).",  # noqa: E501 - check text reads as one line
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
        if data.get("recurrence_free"):
            first = first_recurrences(patient).first_any
            if first:
                result.hard.append(
                    (
                        "recurrence_free",
                        f"A recurrence is recorded on {first:%d %b %Y}: the patient is not recurrence-free.",
                    )
                )
        end_date = data.get("end_date")
        if data.get("reason") == "completed" and end_date:
            # The month-36 visit's window opens 4 weeks before 36 months (protocol visit schedule).
            earliest = add_months(patient.liver_resection_date, 36) - dt.timedelta(days=28)
            if end_date < earliest:
                result.hard.append(
                    (
                        "reason",
                        f"Completed 36 months needs an end of study from {earliest:%d %b %Y} "
                        "(36 months after the liver resection, less the 4-week window).",
                    )
                )
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
    assessment = EligibilityAssessment.objects.filter(patient=patient).first() if patient.pk else None
    if assessment is None:
        return
    for name, label in ELIGIBILITY_PATHOLOGY.items():
        value, recorded = data.get(name), getattr(assessment, name)
        if value not in (None, "") and recorded not in (None, "") and str(value) != str(recorded):
            if isinstance(recorded, Decimal) and Decimal(str(value)) == recorded:
                continue
            result.soft.append(
                (name, f"Eligibility recorded {label} {recorded}, which sets the stratum: check which is right.")
            )


class QualityOfLifeValidator(CrfValidator):
    CHECKS = [
        "Hard: a completion date with no item answered (QLQ-C30 items 1–30, QLQ-GI.NET21 items 31–51).",
        "Soft: fewer than 15 of the 30 QLQ-C30 items answered.",
    ]

    def rules(self, data, *, patient, visit, result):
        answered = [n for n in range(1, 31) if data.get(f"q{n}") is not None]
        module = [n for n in range(31, 52) if data.get(f"q{n}") is not None]
        if data.get("completed_on") and not answered and not module:
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
        "Soft: at months 12 and 36 the expected imaging is the protocol 68Ga-DOTATATE PET/CT.",
    ]

    def rules(self, data, *, patient, visit, result):
        day = data.get("imaging_date")
        if day and day < patient.liver_resection_date:
            result.hard.append(("imaging_date", "Imaging before the liver resection cannot be follow-up."))
        if data.get("result") == "recurrence":
            result.soft.append(("result", "Recurrence reported: complete the recurrence form."))
        if data.get("result") == "ned" and data.get("new_lesions"):
            result.hard.append(("new_lesions", "No evidence of disease with new lesions: check the result."))
        if visit is not None and visit.code in ("FU12", "FU36"):
            if data.get("modality") and data["modality"] != "pet":
                result.soft.append(
                    ("modality", f"The protocol imaging at {visit.label.lower()} is a 68Ga-DOTATATE PET/CT.")
                )
            if data.get("reason") and data["reason"] != "pet_protocol":
                result.soft.append(("reason", "At this visit the imaging is the protocol PET (month 12 / 36)."))


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
        "Soft: a pregnancy that began after the reporting window (7 months after the last dose for women, 4 for men).",
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
        until = pregnancy_reporting_until(patient)
        if lmp and until and lmp > until:
            result.soft.append(
                (
                    "last_menstrual_period",
                    f"After the reporting window, which ended {until:%d %b %Y} "
                    f"({PREGNANCY_WINDOW_MONTHS[patient.sex]} months after the last dose): please confirm.",
                )
            )


# Contraception and pregnancy reporting run to 7 months after the last dose for women and 4 months
# for men (protocol CRF 13).
PREGNANCY_WINDOW_MONTHS = {"F": 7, "M": 4}


def pregnancy_reporting_until(patient) -> dt.date | None:
    """The last day of the contraception and pregnancy-reporting window; None before any dose."""
    last = (
        LutatheraDosing.objects.filter(patient=patient, dose_date__isnull=False)
        .exclude(dose_level="not_given")
        .order_by("-dose_date")
        .values_list("dose_date", flat=True)
        .first()
    )
    months = PREGNANCY_WINDOW_MONTHS.get(patient.sex)
    return add_months(last, months) if last and months else None
