"""Values derived from entered data: SI values, CTCAE v5 grades (crf.ctcae), creatinine clearance,
BMI, the baseline laboratory panel and the label's dose-hold rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from . import ctcae


def _d(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _fmt(value: Decimal) -> str:
    """1.80 and 1.8 read the same (messages are compared to avoid raising a query twice)."""
    return f"{value.normalize():f}"


def bmi(height_cm, weight_kg) -> Decimal | None:
    h, w = _d(height_cm), _d(weight_kg)
    if not h or not w:
        return None
    return (w / ((h / 100) ** 2)).quantize(Decimal("0.1"))


# --- Creatinine clearance ----------------------------------------------------------------------


def age_for_clearance(year_of_birth: int, day: dt.date) -> int:
    """The age put into Cockcroft–Gault. From the year of birth alone the patient is
    (year − YOB − 1) or (year − YOB) on ``day`` (protocol, Eligibility); the older bound is used
    because it gives the lower clearance, so a renal dose-hold is flagged sooner, never later."""
    return day.year - year_of_birth


def cockcroft_gault(*, age: int, weight_kg, female: bool, creatinine_umol) -> Decimal | None:
    """Protocol CRF 9: (140 − age) × weight kg × (0.85 if female) / (0.815 × creatinine µmol/L), mL/min."""
    weight, creatinine = _d(weight_kg), _d(creatinine_umol)
    if weight is None or not creatinine:
        return None
    value = (140 - age) * weight * (Decimal("0.85") if female else 1) / (Decimal("0.815") * creatinine)
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


# --- The laboratory panel in SI and its derived fields -----------------------------------------

CONVERTIBLE = tuple(ctcae.UNITS)  # haemoglobin, creatinine, albumin, bilirubin
LIMIT_FIELDS = tuple(ctcae.DEFAULT_LIMITS)


def si_panel(data: dict) -> dict:
    """The panel with SI values under the analyte's name (as crf.ctcae grades them) and its limits."""
    panel = dict(data)
    for analyte in CONVERTIBLE:
        panel[analyte] = ctcae.to_si(analyte, data.get(analyte), data.get(f"{analyte}_unit"))
    return panel


@dataclass
class LabContext:
    """What a panel's derivations need beyond its own values."""

    year_of_birth: int | None = None
    female: bool = False
    weight_kg: Decimal | None = None
    site_limits: dict | None = None  # limit name → value of the site's laboratory on the sample date
    baseline: dict | None = None  # the baseline panel in SI (si_panel), None if this is the baseline


def laboratory_derived(data: dict, context: LabContext) -> dict:
    """Derived field → value for a laboratory form's (merged) data: the limits left blank taken from
    the site laboratory, SI values, the Cockcroft–Gault clearance and the CTCAE v5.0 grades."""
    out: dict = {}
    for name in LIMIT_FIELDS:
        if data.get(name) in (None, "") and context.site_limits and context.site_limits.get(name) is not None:
            out[name] = _d(context.site_limits[name])
    panel = si_panel(data | out)
    for analyte in CONVERTIBLE:
        out[f"{analyte}_si"] = panel[analyte]
    clearance = None
    day = data.get("sample_date")
    if context.year_of_birth and day:
        clearance = cockcroft_gault(
            age=age_for_clearance(context.year_of_birth, day),
            weight_kg=context.weight_kg,
            female=context.female,
            creatinine_umol=panel["creatinine"],
        )
    out["creatinine_clearance"] = clearance
    panel["creatinine_clearance"] = clearance
    out.update(ctcae.panel_grades(panel, context.baseline))
    return out


# --- Dose-hold rules (Lutathera SmPC 4.2 / US label 2.4; protocol CRF 9) -----------------------


def dose_hold_flags(panel: dict, baseline: dict | None = None) -> list[tuple[str, str]]:
    """(field, message) for each dose-hold rule the pre-dose panel meets.

    ``panel`` and ``baseline`` are in SI with their grades and clearance (the derived fields of the
    form; for a panel not yet saved, ``laboratory_derived`` applied to it). Renal toxicity is any of
    clearance < 40 mL/min, creatinine ≥ 40 % above baseline, clearance ≥ 40 % below baseline.
    """
    flags: list[tuple[str, str]] = []
    grade = panel.get
    if (grade("platelets_grade") or 0) >= 2:
        flags.append(("platelets", f"Thrombocytopenia grade {grade('platelets_grade')} (hold at grade 2–4)"))
    if (grade("haemoglobin_grade") or 0) >= 3:
        flags.append(("haemoglobin", f"Anaemia grade {grade('haemoglobin_grade')} (hold at grade 3–4)"))
    if (grade("anc_grade") or 0) >= 3:
        flags.append(("anc", f"Neutropenia grade {grade('anc_grade')} (hold at grade 3–4)"))
    crcl, creat = _d(panel.get("creatinine_clearance")), _d(panel.get("creatinine"))
    if crcl is not None and crcl < 40:
        flags.append(("creatinine", f"Creatinine clearance {_fmt(crcl)} mL/min (hold below 40 mL/min)"))
    if baseline:
        base_creat, base_crcl = _d(baseline.get("creatinine")), _d(baseline.get("creatinine_clearance"))
        if creat is not None and base_creat and creat >= base_creat * Decimal("1.4"):
            flags.append(
                (
                    "creatinine",
                    f"Creatinine {_fmt(creat)} µmol/L is ≥ 40 % above baseline {_fmt(base_creat)} µmol/L",
                )
            )
        if crcl is not None and base_crcl and crcl <= base_crcl * Decimal("0.6"):
            flags.append(
                (
                    "creatinine",
                    f"Creatinine clearance {_fmt(crcl)} mL/min is ≥ 40 % below baseline {_fmt(base_crcl)} mL/min",
                )
            )
    bilirubin = _d(panel.get("bilirubin"))
    uln = _d(panel.get("bilirubin_uln")) or ctcae.default_limit("bilirubin_uln")
    if bilirubin is not None and bilirubin > 3 * uln:
        flags.append(("bilirubin", f"Bilirubin {_fmt(bilirubin)} µmol/L > 3 × ULN ({_fmt(3 * uln)} µmol/L)"))
    albumin, inr = _d(panel.get("albumin")), _d(panel.get("inr"))
    if albumin is not None and inr is not None and albumin < 30 and inr > Decimal("1.5"):
        flags.append(
            ("albumin", f"Albumin {_fmt(albumin)} g/L with INR {_fmt(inr)} (hold when albumin < 30 g/L and INR > 1.5)")
        )
    return flags
