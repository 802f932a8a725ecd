"""Values derived from entered data: CTCAE v5 grades, dose-hold rules, BMI."""

from __future__ import annotations

from decimal import Decimal


def _d(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def platelet_grade(value, lln) -> int | None:
    """CTCAE v5 platelet count decreased: G1 < LLN–75, G2 < 75–50, G3 < 50–25, G4 < 25 ×10⁹/L."""
    v, lln = _d(value), _d(lln) or Decimal(150)
    if v is None:
        return None
    for limit, grade in ((25, 4), (50, 3), (75, 2)):
        if v < limit:
            return grade
    return 1 if v < lln else 0


def anaemia_grade(hb, lln) -> int | None:
    """CTCAE v5 anaemia (Hb g/L): G1 < LLN–100, G2 < 100–80, G3 < 80 (G4 is clinical, not a value)."""
    v, lln = _d(hb), _d(lln) or Decimal(120)
    if v is None:
        return None
    if v < 80:
        return 3
    if v < 100:
        return 2
    return 1 if v < lln else 0


def neutropenia_grade(anc, lln) -> int | None:
    """CTCAE v5 neutrophil count decreased: G1 < LLN–1.5, G2 < 1.5–1.0, G3 < 1.0–0.5, G4 < 0.5."""
    v, lln = _d(anc), _d(lln) or Decimal(2)
    if v is None:
        return None
    for limit, grade in ((Decimal("0.5"), 4), (Decimal("1.0"), 3), (Decimal("1.5"), 2)):
        if v < limit:
            return grade
    return 1 if v < lln else 0


def lymphopenia_grade(value, lln) -> int | None:
    """CTCAE v5 lymphocyte count decreased: G1 < LLN–0.8, G2 < 0.8–0.5, G3 < 0.5–0.2, G4 < 0.2."""
    v, lln = _d(value), _d(lln) or Decimal(1)
    if v is None:
        return None
    for limit, grade in ((Decimal("0.2"), 4), (Decimal("0.5"), 3), (Decimal("0.8"), 2)):
        if v < limit:
            return grade
    return 1 if v < lln else 0


def bilirubin_grade(value, uln) -> int | None:
    """CTCAE v5 blood bilirubin increased (normal baseline): G1 > ULN–1.5, G2 > 1.5–3, G3 > 3–10, G4 > 10 × ULN."""
    v, uln = _d(value), _d(uln) or Decimal(21)
    if v is None:
        return None
    ratio = v / uln
    for limit, grade in ((10, 4), (3, 3), (Decimal("1.5"), 2), (1, 1)):
        if ratio > limit:
            return grade
    return 0


def lab_grades(data: dict) -> dict[str, int | None]:
    return {
        "platelets": platelet_grade(data.get("platelets"), data.get("platelets_lln")),
        "anaemia": anaemia_grade(data.get("haemoglobin"), data.get("haemoglobin_lln")),
        "neutropenia": neutropenia_grade(data.get("anc"), data.get("anc_lln")),
        "lymphopenia": lymphopenia_grade(data.get("lymphocytes"), data.get("lymphocytes_lln")),
        "bilirubin": bilirubin_grade(data.get("bilirubin"), data.get("bilirubin_uln")),
    }


def _fmt(value: Decimal) -> str:
    """1.80 and 1.8 read the same (messages are compared to avoid raising a query twice)."""
    return f"{value.normalize():f}"


def dose_hold_flags(data: dict) -> list[str]:
    """The protocol's dose-hold rules met by a laboratory panel (to flag before dosing)."""
    grades = lab_grades(data)
    flags = []
    if (grades["platelets"] or 0) >= 2:
        flags.append(f"Platelets grade {grades['platelets']} (hold at grade 2–4)")
    if (grades["anaemia"] or 0) >= 3:
        flags.append(f"Anaemia grade {grades['anaemia']} (hold at grade 3–4)")
    if (grades["neutropenia"] or 0) >= 3:
        flags.append(f"Neutropenia grade {grades['neutropenia']} (hold at grade 3–4)")
    crcl = _d(data.get("creatinine_clearance"))
    if crcl is not None and crcl < 40:
        flags.append(f"Creatinine clearance {_fmt(crcl)} mL/min (hold below 40)")
    bilirubin, uln = _d(data.get("bilirubin")), _d(data.get("bilirubin_uln")) or Decimal(21)
    if bilirubin is not None and bilirubin > 3 * uln:
        flags.append(f"Bilirubin {_fmt(bilirubin)} µmol/L > 3 × ULN")
    albumin, inr = _d(data.get("albumin")), _d(data.get("inr"))
    if albumin is not None and inr is not None and albumin < 30 and inr > Decimal("1.5"):
        flags.append(f"Albumin {_fmt(albumin)} g/L with INR {_fmt(inr)} (hold when albumin < 30 and INR > 1.5)")
    return flags


def bmi(height_cm, weight_kg) -> Decimal | None:
    h, w = _d(height_cm), _d(weight_kg)
    if not h or not w:
        return None
    return (w / ((h / 100) ** 2)).quantize(Decimal("0.1"))
