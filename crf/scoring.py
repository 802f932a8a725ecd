"""Scores derived from entered data: the WHO grade of a NET and the EORTC QLQ-C30 scales.

Pure functions (no models) so each rule is tested on its own against hand-computed values.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# The WHO-grade rule lives with eligibility, which needs it for stratification; the CRFs reuse it.
from patients.grading import grade_disagreement, who_grade  # noqa: F401 - re-exported for the CRFs

# EORTC QLQ-C30 v3.0 scales: code -> (label, kind, items). Items 1–28 are answered 1–4, items 29–30
# (global health status) 1–7.
QLQ_C30_SCALES: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "QL2": ("Global health status", "global", (29, 30)),
    "PF2": ("Physical functioning", "functional", (1, 2, 3, 4, 5)),
    "RF2": ("Role functioning", "functional", (6, 7)),
    "EF": ("Emotional functioning", "functional", (21, 22, 23, 24)),
    "CF": ("Cognitive functioning", "functional", (20, 25)),
    "SF": ("Social functioning", "functional", (26, 27)),
    "FA": ("Fatigue", "symptom", (10, 12, 18)),
    "NV": ("Nausea and vomiting", "symptom", (14, 15)),
    "PA": ("Pain", "symptom", (9, 19)),
    "DY": ("Dyspnoea", "symptom", (8,)),
    "SL": ("Insomnia", "symptom", (11,)),
    "AP": ("Appetite loss", "symptom", (13,)),
    "CO": ("Constipation", "symptom", (16,)),
    "DI": ("Diarrhoea", "symptom", (17,)),
    "FI": ("Financial difficulties", "symptom", (28,)),
}


def item_range(item: int) -> tuple[int, int]:
    return (1, 7) if item in (29, 30) else (1, 4)


def validate_qlq_response(item: int, value) -> str | None:
    if not 1 <= item <= 30:
        return f"The QLQ-C30 has items 1–30, not {item}."
    if value is None:
        return None
    low, high = item_range(item)
    if int(value) != value or not low <= value <= high:
        return f"Item {item} is answered {low}–{high}."
    return None


def qlq_c30_scores(responses: dict[int, int | None], *, rounded: bool = True) -> dict[str, Decimal | None]:
    """Scores 0–100 per the EORTC scoring manual, as Decimals rounded to one place (``rounded``) or
    unrounded (to compute the summary score from, as the EORTC summary-score guidance does).

    RS is the mean of the answered items; a scale is missing when fewer than half of its items are
    answered. Functional scales: 100 × (1 − (RS − 1)/range); symptom scales and global health:
    100 × (RS − 1)/range.
    """
    scores: dict[str, Decimal | None] = {}
    for code, (_label, kind, items) in QLQ_C30_SCALES.items():
        answered = [Decimal(responses[i]) for i in items if responses.get(i) is not None]
        if len(answered) * 2 < len(items):
            scores[code] = None
            continue
        raw = sum(answered) / len(answered)
        span = Decimal(item_range(items[0])[1] - 1)
        score = (1 - (raw - 1) / span) * 100 if kind == "functional" else (raw - 1) / span * 100
        scores[code] = score.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if rounded else score
    return scores


def qlq_c30_summary_score(scores: dict[str, Decimal | None]) -> Decimal | None:
    """The QLQ-C30 summary score: mean of the 13 scales other than QL2 and FI, symptom scales
    reversed (100 − score); missing when any of them is."""
    parts = []
    for code, (_label, kind, _items) in QLQ_C30_SCALES.items():
        if code in ("QL2", "FI"):
            continue
        if scores.get(code) is None:
            return None
        parts.append(scores[code] if kind == "functional" else 100 - scores[code])
    return (sum(parts) / len(parts)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def qlq_c30_summary(responses: dict[int, int | None]) -> Decimal | None:
    """The summary score from the responses: computed from the unrounded scale scores, rounded once
    at the end (rounding each of 13 scales first can move the result by 0.1)."""
    return qlq_c30_summary_score(qlq_c30_scores(responses, rounded=False))
