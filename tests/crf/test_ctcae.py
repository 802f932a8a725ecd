"""CTCAE v5.0 laboratory grades, one table per analyte crossing every boundary.

Vectors written by hand from the CTCAE v5.0 table as reproduced in protocol.md (CRF 9), not from the
code: "< LLN–75" is grade 1 for 75 ≤ value < LLN; "> ULN–3 × ULN" is grade 1 for ULN < value ≤ 3 × ULN;
"1.5–3 × baseline" (no ">") includes 1.5 × baseline. Units: protocol CRF 9 (bilirubin mg/dL × 17.1,
creatinine mg/dL × 88.4, albumin and Hb g/dL × 10).
"""

from decimal import Decimal

import pytest

from crf import ctcae

D = Decimal


def _cases(rows):
    return [pytest.param(*row, id=f"{row[0]}->G{row[-1]}") for row in rows]


# Platelets ×10⁹/L, LLN 150: G1 < LLN–75, G2 < 75–50, G3 < 50–25, G4 < 25.
PLATELETS = [
    ("150", 0),
    ("149", 1),
    ("75", 1),
    ("74", 2),
    ("50", 2),
    ("49", 3),
    ("25", 3),
    ("24", 4),
    ("0", 4),
]


@pytest.mark.parametrize(("value", "grade"), _cases(PLATELETS))
def test_platelets(value, grade):
    assert ctcae.platelets_grade(D(value), D(150)) == grade


# Neutrophils ×10⁹/L, LLN 2.0: G1 < LLN–1.5, G2 < 1.5–1.0, G3 < 1.0–0.5, G4 < 0.5.
ANC = [("2.0", 0), ("1.99", 1), ("1.5", 1), ("1.49", 2), ("1.0", 2), ("0.99", 3), ("0.5", 3), ("0.49", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(ANC))
def test_neutrophils(value, grade):
    assert ctcae.anc_grade(D(value), D("2.0")) == grade


# WBC ×10⁹/L, LLN 4.0: G1 < LLN–3.0, G2 < 3.0–2.0, G3 < 2.0–1.0, G4 < 1.0.
WBC = [("4.0", 0), ("3.99", 1), ("3.0", 1), ("2.99", 2), ("2.0", 2), ("1.99", 3), ("1.0", 3), ("0.99", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(WBC))
def test_white_cells(value, grade):
    assert ctcae.wbc_grade(D(value), D("4.0")) == grade


# Lymphocytes ×10⁹/L, LLN 1.0: G1 < LLN–0.8, G2 < 0.8–0.5, G3 < 0.5–0.2, G4 < 0.2.
LYMPH = [("1.0", 0), ("0.99", 1), ("0.8", 1), ("0.79", 2), ("0.5", 2), ("0.49", 3), ("0.2", 3), ("0.19", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(LYMPH))
def test_lymphocytes(value, grade):
    assert ctcae.lymphocytes_grade(D(value), D("1.0")) == grade


# Haemoglobin g/L, LLN 130: G1 < LLN–100, G2 < 100–80, G3 < 80; no grade 4 from a value.
HB = [("130", 0), ("129", 1), ("100", 1), ("99", 2), ("80", 2), ("79", 3), ("30", 3)]


@pytest.mark.parametrize(("value", "grade"), _cases(HB))
def test_anaemia(value, grade):
    assert ctcae.haemoglobin_grade(D(value), D(130)) == grade


# Albumin g/L, LLN 35: G1 < LLN–30, G2 < 30–20, G3 < 20.
ALBUMIN = [("35", 0), ("34", 1), ("30", 1), ("29", 2), ("20", 2), ("19", 3)]


@pytest.mark.parametrize(("value", "grade"), _cases(ALBUMIN))
def test_hypoalbuminaemia(value, grade):
    assert ctcae.albumin_grade(D(value), D(35)) == grade


# ALT U/L, ULN 40, baseline normal: G1 > ULN–3 × ULN (40 < v ≤ 120), G2 > 3–5 (≤ 200), G3 > 5–20
# (≤ 800), G4 > 20 × ULN.
ALT_NORMAL = [
    ("40", 0),
    ("41", 1),
    ("120", 1),
    ("121", 2),
    ("200", 2),
    ("201", 3),
    ("800", 3),
    ("801", 4),
]


@pytest.mark.parametrize(("value", "grade"), _cases(ALT_NORMAL))
def test_alt_with_normal_baseline(value, grade):
    assert ctcae.alt_grade(D(value), D(40), baseline=D(30), baseline_uln=D(40)) == grade
    assert ctcae.ast_grade(D(value), D(40), baseline=D(30), baseline_uln=D(40)) == grade
    # No baseline known: the ULN row.
    assert ctcae.alt_grade(D(value), D(40)) == grade


# ALT U/L, baseline abnormal 80 (ULN 40): G1 1.5–3 × baseline (120 ≤ v ≤ 240), G2 > 3–5 (≤ 400),
# G3 > 5–20 (≤ 1600), G4 > 20 × baseline. Below 1.5 × baseline: not graded.
ALT_ABNORMAL = [
    ("119", 0),
    ("120", 1),
    ("240", 1),
    ("241", 2),
    ("400", 2),
    ("401", 3),
    ("1600", 3),
    ("1601", 4),
]


@pytest.mark.parametrize(("value", "grade"), _cases(ALT_ABNORMAL))
def test_alt_with_abnormal_baseline(value, grade):
    assert ctcae.alt_grade(D(value), D(40), baseline=D(80), baseline_uln=D(40)) == grade
    assert ctcae.ast_grade(D(value), D(40), baseline=D(80), baseline_uln=D(40)) == grade


# ALP U/L, ULN 100, baseline normal: G1 > ULN–2.5 × ULN (≤ 250), G2 > 2.5–5 (≤ 500), G3 > 5–20
# (≤ 2000), G4 > 20.
ALP_NORMAL = [("100", 0), ("101", 1), ("250", 1), ("251", 2), ("500", 2), ("501", 3), ("2000", 3), ("2001", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(ALP_NORMAL))
def test_alp_with_normal_baseline(value, grade):
    assert ctcae.alp_grade(D(value), D(100), baseline=D(90), baseline_uln=D(100)) == grade


# ALP, baseline abnormal 200 (ULN 100): G1 2–2.5 × baseline (400 ≤ v ≤ 500), G2 > 2.5–5 (≤ 1000),
# G3 > 5–20 (≤ 4000), G4 > 20.
ALP_ABNORMAL = [("399", 0), ("400", 1), ("500", 1), ("501", 2), ("1000", 2), ("1001", 3), ("4000", 3), ("4001", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(ALP_ABNORMAL))
def test_alp_with_abnormal_baseline(value, grade):
    assert ctcae.alp_grade(D(value), D(100), baseline=D(200), baseline_uln=D(100)) == grade


# Bilirubin µmol/L, ULN 20, baseline normal: G1 > ULN–1.5 × ULN (≤ 30), G2 > 1.5–3 (≤ 60), G3 > 3–10
# (≤ 200), G4 > 10 × ULN.
BILI_NORMAL = [("20", 0), ("20.1", 1), ("30", 1), ("30.1", 2), ("60", 2), ("60.1", 3), ("200", 3), ("200.1", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(BILI_NORMAL))
def test_bilirubin_with_normal_baseline(value, grade):
    assert ctcae.bilirubin_grade(D(value), D(20), baseline=D(10), baseline_uln=D(20)) == grade


# Bilirubin, baseline abnormal 40 (ULN 20) — common after hepatectomy: G1 > 1.0–1.5 × baseline
# (40 < v ≤ 60), G2 > 1.5–3 (≤ 120), G3 > 3–10 (≤ 400), G4 > 10 × baseline.
BILI_ABNORMAL = [("40", 0), ("40.1", 1), ("60", 1), ("60.1", 2), ("120", 2), ("120.1", 3), ("400", 3), ("400.1", 4)]


@pytest.mark.parametrize(("value", "grade"), _cases(BILI_ABNORMAL))
def test_bilirubin_with_abnormal_baseline(value, grade):
    assert ctcae.bilirubin_grade(D(value), D(20), baseline=D(40), baseline_uln=D(20)) == grade


# Creatinine µmol/L, ULN 100, baseline 50: G1 > ULN–1.5 × ULN; G2 > 1.5–3 × baseline or > 1.5–3 ×
# ULN; G3 > 3 × baseline or > 3–6 × ULN; G4 > 6 × ULN. The worse reading counts.
CREATININE = [
    ("50", None, 0),
    ("75", None, 0),  # 1.5 × baseline exactly: not above it
    ("76", None, 2),  # > 1.5 × baseline, within the normal range
    ("100", 90, 0),
    ("101", 90, 1),
    ("150", 120, 1),  # 1.5 × ULN exactly, 1.25 × baseline
    ("151", 120, 2),
    ("151", None, 3),  # > 3 × baseline 50
    ("300", 120, 2),
    ("301", 120, 3),
    ("600", 300, 3),
    ("601", 300, 4),
]


@pytest.mark.parametrize(("value", "baseline", "grade"), [pytest.param(*r, id=f"{r[0]}/{r[1]}") for r in CREATININE])
def test_creatinine(value, baseline, grade):
    assert ctcae.creatinine_grade(D(value), D(100), baseline=D(baseline or 50)) == grade


# INR (no anticoagulant): G1 > 1.2–1.5, G2 > 1.5–2.5, G3 > 2.5.
INR = [("1.2", 0), ("1.21", 1), ("1.5", 1), ("1.51", 2), ("2.5", 2), ("2.51", 3)]


@pytest.mark.parametrize(("value", "grade"), _cases(INR))
def test_inr(value, grade):
    assert ctcae.inr_grade(D(value)) == grade


def test_missing_value_has_no_grade():
    assert ctcae.platelets_grade(None, D(150)) is None
    assert ctcae.bilirubin_grade("", D(21)) is None


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "si"),
    [
        ("bilirubin", "3.5", "mg/dL", "59.9"),  # 59.85 rounds half up (issue 23 acceptance)
        ("creatinine", "1.7", "mg/dL", "150.3"),  # 150.28
        ("albumin", "3.2", "g/dL", "32.0"),
        ("haemoglobin", "9.5", "g/dL", "95.0"),
        ("bilirubin", "35", "µmol/L", "35.0"),
        ("haemoglobin", "95", "", "95.0"),  # blank unit = SI
    ],
)
def test_conventional_units_convert_to_si(analyte, value, unit, si):
    assert ctcae.to_si(analyte, D(value), unit) == D(si)


def test_bilirubin_in_mg_dl_grades_as_its_si_value():
    # 3.5 mg/dL = 59.9 µmol/L; ULN 21 µmol/L: 59.9 > 1.5 × 21 = 31.5 and ≤ 3 × 21 = 63 → grade 2.
    si = ctcae.to_si("bilirubin", D("3.5"), "mg/dL")
    assert ctcae.bilirubin_grade(si, D(21)) == 2
    # Read as µmol/L by mistake it would have been grade 0: the unit matters.
    assert ctcae.bilirubin_grade(D("3.5"), D(21)) == 0
