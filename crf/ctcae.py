"""CTCAE v5.0 laboratory grades and the units of the laboratory CRF: the one place they are derived.

Source: NCI Common Terminology Criteria for Adverse Events v5.0 (27 Nov 2017), as reproduced in the
protocol's table (protocol.md, CRF 9). The table's signs are read literally:

* "< LLN–75" is grade 1 for 75 ≤ value < LLN; "< 75–50" is grade 2 for 50 ≤ value < 75 (the lower
  number belongs to the grade, the upper one to the grade below);
* "> ULN–3 × ULN" is grade 1 for ULN < value ≤ 3 × ULN; "> 3–5 × ULN" is grade 2 for 3 × ULN < value
  ≤ 5 × ULN (the upper number belongs to the grade);
* "1.5–3 × baseline" (ALT/AST) and "2–2.5 × baseline" (ALP) carry no ">" and so include their lower
  bound.

Grade 0 means "measured, not graded as an adverse event" (within the normal range, or below the first
threshold); ``None`` means "not measured". Grade 4 anaemia and grade 4 hypoalbuminaemia are clinical
(life-threatening consequences), never derived from a value.

Units (protocol CRF 9): values are stored in SI; the common conventional unit is accepted and
converted (bilirubin mg/dL × 17.1 → µmol/L; creatinine mg/dL × 88.4 → µmol/L; albumin and
haemoglobin g/dL × 10 → g/L).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


def _d(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


# --- Units -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    code: str
    factor: Decimal  # multiply a value in this unit by factor to get SI
    low: Decimal  # the plausible range in this unit: outside it the value is impossible (hard check)
    high: Decimal


# Analyte → its units, SI first. The plausible ranges bound what a living patient's sample can show
# (the SI ones are the form's long-standing ranges); the conventional ones are the same bounds
# converted, so one measurement is accepted or refused whichever unit it is typed in.
UNITS: dict[str, tuple[Unit, ...]] = {
    "haemoglobin": (
        Unit("g/L", Decimal(1), Decimal(20), Decimal(250)),
        Unit("g/dL", Decimal(10), Decimal(2), Decimal(25)),
    ),
    "creatinine": (
        Unit("µmol/L", Decimal(1), Decimal(10), Decimal(2000)),
        Unit("mg/dL", Decimal("88.4"), Decimal("0.1"), Decimal("22.6")),
    ),
    "albumin": (
        Unit("g/L", Decimal(1), Decimal(5), Decimal(70)),
        Unit("g/dL", Decimal(10), Decimal("0.5"), Decimal(7)),
    ),
    "bilirubin": (
        Unit("µmol/L", Decimal(1), Decimal(0), Decimal(1000)),
        Unit("mg/dL", Decimal("17.1"), Decimal(0), Decimal("58.5")),
    ),
}


def unit_choices(analyte: str) -> list[tuple[str, str]]:
    return [(u.code, u.code) for u in UNITS[analyte]]


def si_unit(analyte: str) -> str:
    return UNITS[analyte][0].code


def unit_of(analyte: str, code: str | None) -> Unit:
    """The unit called ``code`` (blank = SI); a code not known for the analyte raises KeyError."""
    if not code:
        return UNITS[analyte][0]
    for unit in UNITS[analyte]:
        if unit.code == code:
            return unit
    raise KeyError(code)


def to_si(analyte: str, value, unit_code: str | None) -> Decimal | None:
    """The value in SI, to one decimal (half up: 3.5 mg/dL bilirubin is 59.85, stored 59.9 µmol/L)."""
    v = _d(value)
    if v is None:
        return None
    return (v * unit_of(analyte, unit_code).factor).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# --- Normal limits -----------------------------------------------------------------------------

# Used only when neither the form nor the site laboratory's reference range gives the limit. The
# protocol leaves them to the site laboratories; these are common adult values. Override with the
# setting LAB_DEFAULT_LIMITS = {"platelets_lln": 140, ...}.
DEFAULT_LIMITS: dict[str, Decimal] = {
    "haemoglobin_lln": Decimal(120),
    "wbc_lln": Decimal("4.0"),
    "anc_lln": Decimal("2.0"),
    "lymphocytes_lln": Decimal("1.0"),
    "platelets_lln": Decimal(150),
    "creatinine_uln": Decimal(104),
    "alt_uln": Decimal(40),
    "ast_uln": Decimal(40),
    "alp_uln": Decimal(130),
    "bilirubin_uln": Decimal(21),
    "albumin_lln": Decimal(35),
}


def default_limit(name: str) -> Decimal:
    overrides = getattr(settings, "LAB_DEFAULT_LIMITS", {})
    return _d(overrides.get(name)) or DEFAULT_LIMITS[name]


# --- Grades ------------------------------------------------------------------------------------


def _decreased(v: Decimal | None, lln: Decimal, thresholds) -> int | None:
    """Grades for "< LLN–a, < a–b, < b–c, < c": thresholds [(c, 4), (b, 3), (a, 2)], value < t."""
    if v is None:
        return None
    for limit, grade in thresholds:
        if v < Decimal(str(limit)):
            return grade
    return 1 if v < lln else 0


def platelets_grade(value, lln) -> int | None:
    """Platelet count decreased (×10⁹/L): G1 < LLN–75, G2 < 75–50, G3 < 50–25, G4 < 25."""
    return _decreased(_d(value), _d(lln) or default_limit("platelets_lln"), ((25, 4), (50, 3), (75, 2)))


def anc_grade(value, lln) -> int | None:
    """Neutrophil count decreased (×10⁹/L): G1 < LLN–1.5, G2 < 1.5–1.0, G3 < 1.0–0.5, G4 < 0.5."""
    return _decreased(_d(value), _d(lln) or default_limit("anc_lln"), (("0.5", 4), ("1.0", 3), ("1.5", 2)))


def wbc_grade(value, lln) -> int | None:
    """White blood cell decreased (×10⁹/L): G1 < LLN–3.0, G2 < 3.0–2.0, G3 < 2.0–1.0, G4 < 1.0."""
    return _decreased(_d(value), _d(lln) or default_limit("wbc_lln"), (("1.0", 4), ("2.0", 3), ("3.0", 2)))


def lymphocytes_grade(value, lln) -> int | None:
    """Lymphocyte count decreased (×10⁹/L): G1 < LLN–0.8, G2 < 0.8–0.5, G3 < 0.5–0.2, G4 < 0.2."""
    return _decreased(_d(value), _d(lln) or default_limit("lymphocytes_lln"), (("0.2", 4), ("0.5", 3), ("0.8", 2)))


def haemoglobin_grade(value, lln) -> int | None:
    """Anaemia (Hb g/L): G1 < LLN–100, G2 < 100–80, G3 < 80; G4 is clinical."""
    return _decreased(_d(value), _d(lln) or default_limit("haemoglobin_lln"), ((80, 3), (100, 2)))


def albumin_grade(value, lln) -> int | None:
    """Hypoalbuminaemia (g/L): G1 < LLN–30, G2 < 30–20, G3 < 20; G4 is clinical."""
    return _decreased(_d(value), _d(lln) or default_limit("albumin_lln"), ((20, 3), (30, 2)))


def _above(v: Decimal, ref: Decimal, thresholds) -> int:
    """The highest grade whose "> t × ref" holds; thresholds [(t, grade)] highest first."""
    for factor, grade in thresholds:
        if v > Decimal(str(factor)) * ref:
            return grade
    return 0


def _baseline_abnormal(baseline: Decimal | None, baseline_uln: Decimal | None) -> bool:
    return baseline is not None and baseline_uln is not None and baseline > baseline_uln


def _increased(value, uln, baseline, baseline_uln, normal, abnormal, abnormal_g1_low) -> int | None:
    """Enzymes and bilirubin: the ULN row when the baseline was normal (or is not known), else the
    baseline row, whose grade 1 starts at ``abnormal_g1_low`` × baseline inclusive (no ">" in the
    table) or exclusive when ``abnormal_g1_low`` is given as a (factor, "exclusive") pair."""
    v = _d(value)
    if v is None:
        return None
    b, b_uln = _d(baseline), _d(baseline_uln)
    if _baseline_abnormal(b, b_uln):
        grade = _above(v, b, abnormal)
        if grade:
            return grade
        factor, inclusive = abnormal_g1_low
        low = Decimal(str(factor)) * b
        return 1 if (v >= low if inclusive else v > low) else 0
    return _above(v, uln, normal)


def alt_grade(value, uln, baseline=None, baseline_uln=None, *, _uln_default="alt_uln") -> int | None:
    """ALT (or AST) increased. Normal baseline: G1 > ULN–3 × ULN, G2 > 3–5, G3 > 5–20, G4 > 20 × ULN.
    Abnormal baseline: G1 1.5–3 × baseline, G2 > 3–5, G3 > 5–20, G4 > 20 × baseline."""
    return _increased(
        value,
        _d(uln) or default_limit(_uln_default),
        baseline,
        baseline_uln,
        normal=((20, 4), (5, 3), (3, 2), (1, 1)),
        abnormal=((20, 4), (5, 3), (3, 2)),
        abnormal_g1_low=("1.5", True),
    )


def ast_grade(value, uln, baseline=None, baseline_uln=None) -> int | None:
    return alt_grade(value, uln, baseline, baseline_uln, _uln_default="ast_uln")


def alp_grade(value, uln, baseline=None, baseline_uln=None) -> int | None:
    """ALP increased. Normal baseline: G1 > ULN–2.5 × ULN, G2 > 2.5–5, G3 > 5–20, G4 > 20 × ULN.
    Abnormal baseline: G1 2–2.5 × baseline, G2 > 2.5–5, G3 > 5–20, G4 > 20 × baseline."""
    return _increased(
        value,
        _d(uln) or default_limit("alp_uln"),
        baseline,
        baseline_uln,
        normal=((20, 4), (5, 3), ("2.5", 2), (1, 1)),
        abnormal=((20, 4), (5, 3), ("2.5", 2)),
        abnormal_g1_low=("2.0", True),
    )


def bilirubin_grade(value, uln, baseline=None, baseline_uln=None) -> int | None:
    """Blood bilirubin increased. Normal baseline: G1 > ULN–1.5 × ULN, G2 > 1.5–3, G3 > 3–10,
    G4 > 10 × ULN. Abnormal baseline: G1 > 1.0–1.5 × baseline, G2 > 1.5–3, G3 > 3–10, G4 > 10."""
    return _increased(
        value,
        _d(uln) or default_limit("bilirubin_uln"),
        baseline,
        baseline_uln,
        normal=((10, 4), (3, 3), ("1.5", 2), (1, 1)),
        abnormal=((10, 4), (3, 3), ("1.5", 2)),
        abnormal_g1_low=("1.0", False),
    )


def creatinine_grade(value, uln, baseline=None) -> int | None:
    """Creatinine increased: G1 > ULN–1.5 × ULN; G2 > 1.5–3.0 × baseline or > 1.5–3.0 × ULN;
    G3 > 3.0 × baseline or > 3.0–6.0 × ULN; G4 > 6.0 × ULN. The worse of the two readings counts."""
    v = _d(value)
    if v is None:
        return None
    by_uln = _above(v, _d(uln) or default_limit("creatinine_uln"), ((6, 4), (3, 3), ("1.5", 2), (1, 1)))
    b = _d(baseline)
    by_baseline = _above(v, b, ((3, 3), ("1.5", 2))) if b else 0
    return max(by_uln, by_baseline)


def inr_grade(value) -> int | None:
    """INR increased (no anticoagulant): G1 > 1.2–1.5, G2 > 1.5–2.5, G3 > 2.5."""
    v = _d(value)
    if v is None:
        return None
    for limit, grade in ((Decimal("2.5"), 3), (Decimal("1.5"), 2), (Decimal("1.2"), 1)):
        if v > limit:
            return grade
    return 0


# Analyte → (stored grade field, CTCAE v5.0 term). Every analyte of the laboratory CRF with a v5 grade.
GRADED: dict[str, tuple[str, str]] = {
    "haemoglobin": ("haemoglobin_grade", "Anaemia"),
    "wbc": ("wbc_grade", "White blood cell decreased"),
    "anc": ("anc_grade", "Neutrophil count decreased"),
    "lymphocytes": ("lymphocytes_grade", "Lymphocyte count decreased"),
    "platelets": ("platelets_grade", "Platelet count decreased"),
    "creatinine": ("creatinine_grade", "Creatinine increased"),
    "alt": ("alt_grade", "Alanine aminotransferase increased"),
    "ast": ("ast_grade", "Aspartate aminotransferase increased"),
    "alp": ("alp_grade", "Alkaline phosphatase increased"),
    "bilirubin": ("bilirubin_grade", "Blood bilirubin increased"),
    "albumin": ("albumin_grade", "Hypoalbuminemia"),
    "inr": ("inr_grade", "INR increased"),
}


def panel_grades(panel: dict, baseline: dict | None = None) -> dict[str, int | None]:
    """Grade field → grade for one laboratory panel given in SI with its limits.

    ``panel`` and ``baseline`` map the CRF's SI names (``haemoglobin``, ``creatinine``, ...,
    ``alt_uln``) to values; ``baseline`` is the patient's baseline panel (None when the panel is the
    baseline or none exists), used where v5 grades against baseline.
    """
    b = baseline or {}
    g = panel.get
    return {
        "haemoglobin_grade": haemoglobin_grade(g("haemoglobin"), g("haemoglobin_lln")),
        "wbc_grade": wbc_grade(g("wbc"), g("wbc_lln")),
        "anc_grade": anc_grade(g("anc"), g("anc_lln")),
        "lymphocytes_grade": lymphocytes_grade(g("lymphocytes"), g("lymphocytes_lln")),
        "platelets_grade": platelets_grade(g("platelets"), g("platelets_lln")),
        "creatinine_grade": creatinine_grade(g("creatinine"), g("creatinine_uln"), b.get("creatinine")),
        "alt_grade": alt_grade(g("alt"), g("alt_uln"), b.get("alt"), _limit(b, "alt_uln")),
        "ast_grade": ast_grade(g("ast"), g("ast_uln"), b.get("ast"), _limit(b, "ast_uln")),
        "alp_grade": alp_grade(g("alp"), g("alp_uln"), b.get("alp"), _limit(b, "alp_uln")),
        "bilirubin_grade": bilirubin_grade(
            g("bilirubin"), g("bilirubin_uln"), b.get("bilirubin"), _limit(b, "bilirubin_uln")
        ),
        "albumin_grade": albumin_grade(g("albumin"), g("albumin_lln")),
        "inr_grade": inr_grade(g("inr")),
    }


def _limit(panel: dict, name: str) -> Decimal | None:
    if not panel:
        return None
    return _d(panel.get(name)) or default_limit(name)
