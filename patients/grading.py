"""Rules derived from what was recorded about a patient: WHO grade and age from year of birth.

Pure functions (no models), each tested on its own against values worked by hand from the
protocol. They sit in ``patients`` because eligibility and the stratification factors use them, and
the CRFs above (crf.scoring) reuse the same rule, so there is one WHO-grade rule in the system.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .codelists import WhoGrade


def _d(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _grade_ki67(ki67: Decimal) -> str:
    return (WhoGrade.G1 if ki67 < 3 else WhoGrade.G2 if ki67 <= 20 else WhoGrade.G3).value


def _grade_mitoses(mitoses: Decimal) -> str:
    return (WhoGrade.G1 if mitoses < 2 else WhoGrade.G2 if mitoses <= 20 else WhoGrade.G3).value


def who_grade(ki67_percent, mitoses_per_2mm2) -> str | None:
    """WHO grade of a well-differentiated NET: G1 Ki-67 < 3 % and mitoses < 2 per 2 mm²; G2 Ki-67
    3–20 % or mitoses 2–20; G3 above 20. The higher of the two indices sets the grade; with one
    index missing the other decides; with both missing there is no grade."""
    ki67, mitoses = _d(ki67_percent), _d(mitoses_per_2mm2)
    grades = []
    if ki67 is not None:
        grades.append(_grade_ki67(ki67))
    if mitoses is not None:
        grades.append(_grade_mitoses(mitoses))
    return max(grades) if grades else None  # the codes sort as the grades do: G1 < G2 < G3


def grade_disagreement(entered, ki67_percent, mitoses_per_2mm2) -> str | None:
    derived = who_grade(ki67_percent, mitoses_per_2mm2)
    if not entered or derived is None or entered == derived:
        return None
    parts = []
    if ki67_percent not in (None, ""):
        parts.append(f"Ki-67 {_d(ki67_percent).normalize():f} %")
    if mitoses_per_2mm2 not in (None, ""):
        parts.append(f"mitoses {_d(mitoses_per_2mm2).normalize():f}")
    return f"Entered grade {entered} but {' and '.join(parts)} give {derived}."


def age_range(year_of_birth: int, day: dt.date) -> tuple[int, int]:
    """(youngest, oldest) the patient can be on ``day`` knowing only the year of birth.

    Protocol, Eligibility: at a date D the patient is (D.year − YOB − 1) or (D.year − YOB),
    depending on whether the birthday of that year has passed.
    """
    oldest = day.year - year_of_birth
    return oldest - 1, oldest


def describe_age_range(year_of_birth: int, day: dt.date) -> str:
    low, high = age_range(year_of_birth, day)
    return f"{low} or {high} on {day:%d %b %Y} (born in {year_of_birth})"
